#!/usr/bin/env bash
# Checks the README's two commands where a new user runs them: in a fresh
# minimal Debian 12 root (debootstrap --variant=minbase) with only git added,
# a clone of this repository at one commit runs `bash scripts/test.sh`, then
# `bash scripts/run.sh`, whose UI must answer and whose example traffic must
# be stored. Prints "fresh-debian-check: PASS" or "... FAIL: why" last.
# Not part of CI (it downloads a system and builds everything: an hour or
# more on 2 cores); run it as root whenever the dependencies change.
#
# Usage: scripts/fresh-debian-check.sh [--commit REV] [--dir DIR] [--keep]
#   --commit REV  what to check (default HEAD of this repository)
#   --dir DIR     where the root goes (default a new /var/tmp/cs-fresh.XXXXXX)
#   --keep        keep the root afterwards (it is deleted on PASS otherwise)
# Environment: CS_DEBIAN_MIRROR overrides the mirror read from apt's sources,
#   CS_RUN_WAIT_S (900) bounds run.sh's start-up, logs go to DIR/*.log.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
REV=HEAD
DIR=""
KEEP=0
while [ $# -gt 0 ]; do
  case $1 in
  --commit) REV=${2:?--commit needs a revision}; shift 2 ;;
  --dir) DIR=${2:?--dir needs a directory}; shift 2 ;;
  --keep) KEEP=1; shift ;;
  -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "fresh-debian-check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
say() { echo "fresh-debian-check: $*"; }
# Failures are said at once and again as the summary's last line.
VERDICT=""
fail() { VERDICT="FAIL: $*"; say "$VERDICT"; exit 1; }
SUMMARY=() # one line per step, printed at exit
note() { SUMMARY+=("$*"); say "$*"; }
T0=$SECONDS
[ "$(id -u)" -eq 0 ] || fail "must run as root (debootstrap, chroot, mount)"
for c in chroot unshare ip findmnt; do
  command -v $c >/dev/null || fail "$c not found"
done
COMMIT=$(git -C "$SRC" rev-parse --verify "$REV^{commit}") || fail "no commit '$REV' in $SRC"

# The Debian mirror this machine's apt uses: the first bookworm entry of a
# one-line .list or a deb822 .sources file.
debian_mirror() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" && $3 == "bookworm" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'BEGIN { RS = ""; FS = "\n" }
         { uri = ""; ok = 0
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
             if ($i ~ /^Suites:/ && $i ~ /[ \t]bookworm([ \t]|$)/) ok = 1
           }
           if (ok && uri != "") { print uri; exit } }' "$f"
  done
}
MIRROR=${CS_DEBIAN_MIRROR:-$(debian_mirror | head -n 1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
case $MIRROR in
*/debian) SECURITY=${MIRROR%/debian}/debian-security ;;
*) SECURITY=http://deb.debian.org/debian-security ;;
esac

if [ -z "$DIR" ]; then
  DIR=$(mktemp -d /var/tmp/cs-fresh.XXXXXX)
else
  mkdir -p "$DIR"
fi
DIR=$(cd "$DIR" && pwd -P)
ROOT=$DIR/root
MOUNTS=() # mounted paths, in mount order

# The processes this check started inside the root (test.sh, the build,
# daemons of a test, run.sh): exactly those whose root directory is $ROOT.
# (test's -ef, a builtin: a readlink per process would fork hundreds of
# times per scan.)
root_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$p/root" -ef "$ROOT" ] && echo "${p#/proc/}"
  done
  return 0
}

# A process and all its descendants, children first.
tree() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$c"; done
  echo "$1"
}

cleanup() {
  local rc=$? i pids
  trap - INT TERM
  set +e # clean up as far as possible, whatever fails
  # A signal can arrive while a step's output goes to its log.
  exec 1>&3 2>&4
  # The step that was interrupted, with what it started outside the root
  # (debootstrap and its downloads, unshare). debootstrap catches SIGTERM
  # and goes on, so what is still there after 10 s is killed.
  if [ -n "${STEP_PID:-}" ] && kill -0 "$STEP_PID" 2>/dev/null; then
    kill -TERM $(tree "$STEP_PID") 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$STEP_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$STEP_PID" 2>/dev/null && kill -KILL $(tree "$STEP_PID") 2>/dev/null
  fi
  # An interrupted step leaves its processes running in the root, where
  # they would keep the mounts busy: stop them first.
  pids=$(root_pids)
  if [ -n "$pids" ]; then
    say "stopping $(echo $pids | wc -w) processes left in the root"
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 1 100); do [ -z "$(root_pids)" ] && break; sleep 0.1; done
    pids=$(root_pids)
    [ -n "$pids" ] && kill -KILL $pids 2>/dev/null
    for _ in $(seq 1 50); do [ -z "$(root_pids)" ] && break; sleep 0.1; done
  fi
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTS[i]}" 2>/dev/null || umount -R -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  # Deleted only on success, and never while anything is still mounted
  # below it (a bind mount of /dev or of the repository).
  if [ $rc -eq 0 ] && [ $KEEP = 0 ] && [ -d "$ROOT" ]; then
    if findmnt -rn -o TARGET | grep -q "^$ROOT"; then
      say "still mounted below $ROOT: left in place"
    else
      rm -rf --one-file-system "$DIR"
    fi
  elif [ -d "$ROOT" ]; then
    say "root kept in $ROOT (logs in $DIR)"
  fi
  if [ $rc -eq 0 ]; then
    VERDICT=${VERDICT:-PASS}
  else
    VERDICT=${VERDICT:-FAIL: interrupted or exit status $rc}
  fi
  say "summary"
  for i in "${SUMMARY[@]}"; do echo "  $i"; done
  echo "  total $((SECONDS - T0)) s"
  say "$VERDICT"
}
exec 3>&1 4>&2 # the script's own output, for cleanup
trap cleanup EXIT
trap 'exit 130' INT TERM

# Runs a long step in the background and waits for it, so that a signal
# reaches the trap at once instead of after the step.
STEP_PID=""
step() {
  local rc=0
  "$@" &
  STEP_PID=$!
  wait $STEP_PID || rc=$?
  STEP_PID=""
  return $rc
}

bind() { # host-path root-relative-path [ro]
  mkdir -p "$ROOT$2"
  if [ "$1" = /dev ]; then
    mount --rbind "$1" "$ROOT$2" && mount --make-rslave "$ROOT$2"
  else
    mount --bind "$1" "$ROOT$2"
  fi
  MOUNTS+=("$ROOT$2")
  [ "${3:-}" = ro ] && mount -o remount,bind,ro "$ROOT$2"
  return 0
}

# Runs a command in the root with the environment of a fresh root login:
# nothing from this shell except proxy settings.
in_root() {
  local envs=(HOME=/root TERM=dumb LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
  local v
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    [ -n "${!v:-}" ] && envs+=("$v=${!v}")
  done
  chroot "$ROOT" /usr/bin/env -i "${envs[@]}" "$@"
}

say "commit $COMMIT, mirror $MIRROR, root $ROOT"
command -v debootstrap >/dev/null || {
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1; } ||
    fail "apt-get install debootstrap failed"
}

say "debootstrap --variant=minbase bookworm (log $DIR/debootstrap.log)"
start=$SECONDS
step debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$DIR/debootstrap.log" 2>&1 ||
  fail "debootstrap failed, see $DIR/debootstrap.log"
note "debootstrap --variant=minbase bookworm from $MIRROR: $((SECONDS - start)) s"

# What a Debian 12 install points apt at, on this machine's mirror.
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY bookworm-security main
EOF
# Name resolution, this machine's CA bundle (also where update-ca-certificates
# picks it up again if a package reinstalls ca-certificates), apt's proxy
# settings and npm's registry settings: so apt and npm reach their
# registries from the root as they do from here.
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp /etc/hosts "$ROOT/etc/hosts"
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$ROOT/etc/ssl/certs" "$ROOT/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/usr/local/share/ca-certificates/host-bundle.crt"
fi
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -Eqi '^[[:space:]]*Acquire::[a-z]+::Proxy' "$f" && cp "$f" "$ROOT/etc/apt/apt.conf.d/"
done
if command -v npm >/dev/null 2>&1; then
  : >"$ROOT/etc/npmrc"
  for k in registry proxy https-proxy noproxy strict-ssl; do
    val=$(npm config get "$k" 2>/dev/null || true)
    [ -n "$val" ] && [ "$val" != null ] && [ "$val" != undefined ] && echo "$k=$val" >>"$ROOT/etc/npmrc"
  done
  [ -f /etc/ssl/certs/ca-certificates.crt ] && echo "cafile=/etc/ssl/certs/ca-certificates.crt" >>"$ROOT/etc/npmrc"
fi

bind /proc /proc
bind /sys /sys
bind /dev /dev

say "apt-get install git (only)"
install_git() {
  in_root apt-get update && in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git
}
step install_git >"$DIR/git.log" 2>&1 || fail "installing git failed, see $DIR/git.log"
note "packages in the root before the README commands: $(in_root dpkg-query -W -f '.\n' | wc -l) (minbase + git $(in_root dpkg-query -W -f '${Version}' git))"

# The repository's own .git (a worktree's .git is only a pointer to it).
say "git clone, checkout $COMMIT"
GITDIR=$(cd "$SRC" && cd "$(git rev-parse --git-common-dir)" && pwd)
bind "$GITDIR" /mnt/callscope-src ro
in_root git clone -q /mnt/callscope-src /root/callscope >"$DIR/clone.log" 2>&1 &&
  in_root git -C /root/callscope checkout -q --detach "$COMMIT" >>"$DIR/clone.log" 2>&1 ||
  fail "git clone failed, see $DIR/clone.log"
umount "$ROOT/mnt/callscope-src"
unset 'MOUNTS[${#MOUNTS[@]}-1]'

say "bash scripts/test.sh (log $DIR/test.log; the longest step)"
start=$SECONDS
test_ok=1
step in_root bash -c 'cd /root/callscope && bash scripts/test.sh' >"$DIR/test.log" 2>&1 || test_ok=0
# The versions the browser and receiver tests really ran with.
note "in the root: node $(in_root node --version 2>/dev/null || echo none), npm $(in_root npm --version 2>/dev/null || echo none)," \
  "$(in_root chromium --version 2>/dev/null | cut -d' ' -f1-2 || echo 'no chromium')," \
  "playwright-core $(sed -n 's/^ *"version": "\(.*\)",$/\1/p' "$ROOT/root/callscope/tests/ui/node_modules/playwright-core/package.json" 2>/dev/null || echo none)"
# One line per CTest run, named by test.sh's "== ..." heading.
while IFS= read -r l; do note "test.sh: $l"; done < <(awk '/^== / { sec = substr($0, 4); sub(/ \(.*/, "", sec) }
  /tests passed, [0-9]+ tests failed out of/ { print sec ": " $0 }' "$DIR/test.log")
if [ $test_ok = 0 ]; then
  grep -E "\*\*\*Failed|\*\*\*Timeout|\(Failed\)|\(Timeout\)|Subprocess aborted|error:" "$DIR/test.log" | tail -n 20 || true
  fail "scripts/test.sh failed after $((SECONDS - start)) s, see $DIR/test.log"
fi
note "bash scripts/test.sh: passed in $((SECONDS - start)) s"

# run.sh uses the README's default ports (16686, 4320, 4318, 9411, 8125,
# 8080-8083): in a network namespace of its own it cannot meet other
# daemons on this machine. curl comes from scripts/setup-deps.sh.
say "bash scripts/run.sh in its own network namespace (log $DIR/run.log)"
cat >"$ROOT/root/run-check.sh" <<'EOF'
#!/bin/bash
# Runs inside the root and its own network namespace: starts run.sh, waits
# for the UI, then for stored example traces, then stops run.sh.
set -u
cd /root/callscope
bash scripts/run.sh >/root/run.log 2>&1 </dev/null &
run=$!
trap 'kill -TERM $run 2>/dev/null; wait $run' EXIT
Q=http://127.0.0.1:16686
verdict="UI did not answer within ${CS_RUN_WAIT_S}s"
for ((i = 0; i < CS_RUN_WAIT_S; i++)); do
  kill -0 $run 2>/dev/null || { verdict="run.sh exited early"; break; }
  code=$(curl -s -o /root/ui.html -w '%{http_code}' $Q/ 2>/dev/null)
  if [ "$code" = 200 ] && grep -qi "<html" /root/ui.html; then
    verdict="UI answered but no example trace was stored within 120 s"
    for ((j = 0; j < 120; j++)); do
      if curl -s "$Q/api/v1/search?service=frontend&limit=5" | grep -q '"traceID":"[0-9a-f]'; then
        verdict=ok
        break
      fi
      sleep 1
    done
    break
  fi
  sleep 1
done
echo "run-check: $verdict"
kill -TERM $run 2>/dev/null
for ((i = 0; i < 300; i++)); do kill -0 $run 2>/dev/null || break; sleep 0.1; done
if kill -0 $run 2>/dev/null; then echo "run-check: run.sh did not stop within 30 s of SIGTERM"; exit 1; fi
wait $run
rc=$?
trap - EXIT
[ "$verdict" = ok ] && [ $rc = 0 ] && { echo "run-check: run.sh stopped cleanly"; exit 0; }
[ "$verdict" = ok ] && echo "run-check: run.sh exited $rc after SIGTERM"
exit 1
EOF
chmod +x "$ROOT/root/run-check.sh"
# The namespace's loopback is brought up with this machine's ip (iproute2 is
# not in a minbase root).
export ROOT CS_RUN_WAIT_S=${CS_RUN_WAIT_S:-900}
start=$SECONDS
if step unshare --net bash -c 'ip link set lo up && exec chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb \
  LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  CS_RUN_WAIT_S="$CS_RUN_WAIT_S" bash /root/run-check.sh' >"$DIR/run-check.log" 2>&1; then
  ok=1
else
  ok=0
fi
cp "$ROOT/root/run.log" "$DIR/run.log" 2>/dev/null || true
while IFS= read -r l; do note "$l"; done <"$DIR/run-check.log"
[ $ok = 1 ] || { tail -n 20 "$DIR/run.log" 2>/dev/null; fail "scripts/run.sh check failed, see $DIR/run.log"; }
grep -h "^run: " "$DIR/run.log" | tail -n 3 | sed 's/^/fresh-debian-check: /' || true
note "bash scripts/run.sh: UI answered, example traces stored, stopped cleanly ($((SECONDS - start)) s)"
VERDICT="PASS (commit $COMMIT, fresh Debian 12 minbase root, both README commands)"
