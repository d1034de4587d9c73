#!/usr/bin/env bash
# Tools the browser tests need beyond the build dependencies: Debian's
# chromium (playwright cannot download a browser here) and the pinned npm
# packages of tests/ui (playwright-core, from package-lock.json). Quick and
# silent when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "setup-test-tools: installing chromium"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "setup-test-tools: installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y nodejs npm >/dev/null || { apt-get update >/dev/null && apt-get install -y nodejs npm >/dev/null; }
fi
# npm reaches its registry over HTTPS; a minimal Debian root has no CA store.
if ! dpkg-query -W -f='${Status}' ca-certificates 2>/dev/null | grep -q "install ok installed"; then
  echo "setup-test-tools: installing ca-certificates"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y ca-certificates >/dev/null || { apt-get update >/dev/null && apt-get install -y ca-certificates >/dev/null; }
fi

# npm ci only when the installed tree does not match the lockfile.
lock=tests/ui/package-lock.json
stamp=tests/ui/node_modules/.callscope-lock.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d tests/ui/node_modules/playwright-core ]; then
  echo "setup-test-tools: npm ci in tests/ui"
  (cd tests/ui && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
fi

# The real-client tests of the receivers (tests/receivers): OpenTelemetry
# JS SDK and exporters, the Zipkin exporter and hot-shots, pinned by
# tests/receivers/package-lock.json.
lock=tests/receivers/package-lock.json
stamp=tests/receivers/node_modules/.callscope-lock.sha256
want=$(sha256sum "$lock" | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -d tests/receivers/node_modules/@opentelemetry/sdk-trace-base ]; then
  echo "setup-test-tools: npm ci in tests/receivers"
  (cd tests/receivers && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$want" > "$stamp"
fi
