#!/usr/bin/env bash
# Installs everything Callscope needs to build, test and run on Debian 12.
# Idempotent and non-interactive; run as root. Skips apt when all packages
# are already present.
set -euo pipefail
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev llvm
      libuv1-dev libprotobuf-c-dev protobuf-c-compiler librocksdb-dev
      libmicrohttpd-dev libzstd-dev zlib1g-dev curl procps python3
      prometheus python3-prometheus-client)
[ "${CS_EXTRA_PKGS:-}" ] && PKGS+=(${CS_EXTRA_PKGS})
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: dependencies present"
