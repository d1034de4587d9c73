#!/usr/bin/env bash
# The main job: installs dependencies, builds Release into build/release,
# starts the all-in-one callscope daemon (collector + query API/UI) on
# ./data, starts the four example services pointed at it and a load
# generator with five user sessions, and stays in the foreground until
# Ctrl-C/SIGTERM (or CS_RUN_SECONDS), then stops everything cleanly.
#
# Environment (all optional):
#   CS_RUN_SECONDS=N     stop after N seconds (default: run until a signal)
#   CS_DATA_DIR=DIR      store directory (default ./data)
#   CS_QUERY_PORT=N      query HTTP API and UI (default 16686)
#   CS_NATIVE_PORT=N     native frames, TCP and UDP (default 4320)
#   CS_EX_PORT=N         first of four example service ports (default 8080)
#   CS_LOAD_RATE=R       load generator requests per second (default 2)
#   CS_LOAD_SESSIONS=N   distinct session IDs user-1..user-N (default 5)
#   CS_ERROR_RATE=P      error rate of inventory and payments (default 0.05)
#   CS_SKIP_SETUP=1      do not run scripts/setup-deps.sh
#   CS_SKIP_BUILD=1      use the binaries already in build/release
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build/release
DATA=${CS_DATA_DIR:-./data}
QPORT=${CS_QUERY_PORT:-16686}
NPORT=${CS_NATIVE_PORT:-4320}
EXPORT=${CS_EX_PORT:-8080}
RATE=${CS_LOAD_RATE:-2}
SESSIONS=${CS_LOAD_SESSIONS:-5}
ERR=${CS_ERROR_RATE:-0.05}
RUN_SECONDS=${CS_RUN_SECONDS:-0}
LOGS=$BUILD/run-logs
for v in QPORT NPORT EXPORT SESSIONS RUN_SECONDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] || { echo "run: $v must be a number, got '${!v}'" >&2; exit 2; }
done

[ "${CS_SKIP_SETUP:-}" = 1 ] || bash scripts/setup-deps.sh

EXAMPLES=(cs-frontend cs-orders cs-inventory cs-payments cs-examples-load)
if [ "${CS_SKIP_BUILD:-}" != 1 ]; then
  echo "run: building Release into $BUILD"
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" -j"$(nproc)" --target callscope callscope-collector callscope-query \
    "${EXAMPLES[@]}"
fi
DAEMON=("$BUILD/query/callscope" --query-port "$QPORT")
ALL_IN_ONE=1
for b in "${EXAMPLES[@]}"; do
  [ -x "$BUILD/examples/$b" ] || { echo "run: $BUILD/examples/$b missing (build failed?)" >&2; exit 1; }
done

mkdir -p "$LOGS" "$DATA"
PIDS=()   # started processes, in start order
NAMES=()
STOPPED=0

# Stops in reverse start order: load first, then the services (callers
# before callees, so no request is cut off), the daemon last so it stores
# everything the services flushed on their way out.
stop_all() {
  [ "$STOPPED" = 1 ] && return
  STOPPED=1
  echo
  echo "run: stopping"
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    local pid=${PIDS[i]}
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run: ${NAMES[i]} did not stop in 10 s, killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  grep -h "spans written" "$LOGS/callscope.log" 2>/dev/null | tail -n 1 | sed 's/^/run: /' || true
  grep -h "^cs-examples-load:" "$LOGS/load.log" 2>/dev/null | sed 's/^/run: /' || true
  echo "run: traces are in $DATA; logs in $LOGS"
}
trap 'stop_all; exit 0' INT TERM
trap 'stop_all' EXIT

# Each child runs in its own session: Ctrl-C in the terminal then reaches
# only this script, whose trap stops the children in order (the daemon
# last) instead of all of them at once.
start() { # name logfile cmd...
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  PIDS+=($!)
  NAMES+=("$name")
}

# Waits until process number idx (in start order) logs pattern; fails if
# it died first.
wait_for() { # idx pattern
  local i name=${NAMES[$1]} pid=${PIDS[$1]} log=$LOGS/${NAMES[$1]}.log
  for i in $(seq 1 100); do
    grep -q "$2" "$log" 2>/dev/null && return 0
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "run: $name exited during start-up:" >&2
      tail -n 20 "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "run: $name did not start within 10 s; see $log" >&2
  exit 1
}

echo "run: starting ${DAEMON[0]##*/} (data in $DATA)"
start callscope "$LOGS/callscope.log" "${DAEMON[@]}" --data-dir "$DATA" \
  --tcp-port "$NPORT" --udp-port "$NPORT"
wait_for 0 "listening tcp"
if [ "$ALL_IN_ONE" = 1 ]; then
  wait_for 0 "query UI and API at"
fi

export CALLSCOPE_ENDPOINT="tcp://127.0.0.1:$NPORT"
FE=http://127.0.0.1:$EXPORT
ORD=http://127.0.0.1:$((EXPORT + 1))
INV=http://127.0.0.1:$((EXPORT + 2))
PAY=http://127.0.0.1:$((EXPORT + 3))
E=$BUILD/examples
start inventory "$LOGS/inventory.log" "$E/cs-inventory" --port $((EXPORT + 2)) \
  --error-rate "$ERR" --latency-ms 3 --jitter-ms 10
start payments "$LOGS/payments.log" "$E/cs-payments" --port $((EXPORT + 3)) \
  --error-rate "$ERR" --slow-rate 0.03 --slow-ms 1500 --latency-ms 10 --jitter-ms 40
start orders "$LOGS/orders.log" "$E/cs-orders" --port $((EXPORT + 1)) \
  --inventory "$INV" --payments "$PAY" --timeout-ms 1000 --latency-ms 1
start frontend "$LOGS/frontend.log" "$E/cs-frontend" --port "$EXPORT" \
  --inventory "$INV" --orders "$ORD" --timeout-ms 1000 --latency-ms 1
for i in 1 2 3 4; do wait_for "$i" "listening on"; done
start load "$LOGS/load.log" "$E/cs-examples-load" --url "$FE" --rate "$RATE" \
  --sessions "$SESSIONS" --concurrency 2

Q=http://127.0.0.1:$QPORT
cat <<EOF

Callscope is running with four example services and a load generator
($RATE requests/s over sessions user-1..user-$SESSIONS).
EOF
if [ "$ALL_IN_ONE" = 1 ]; then
  cat <<EOF
  UI and API:     $Q/
  Services:       curl -s '$Q/api/services'
  A session:      curl -s '$Q/api/v1/sessions/user-1'
  Search:         curl -s '$Q/api/v1/search?service=frontend&limit=5'
  Slow requests:  curl -s '$Q/api/v1/search?service=frontend&minDuration=500ms&limit=5'
  Errors (Jaeger): curl -s '$Q/api/traces?service=payments&tag=error:true&limit=5'
  One call tree:  curl -s '$Q/api/v1/traces/<traceID>/tree'
EOF
else
  echo "  (collector only: this tree has no all-in-one 'callscope' daemon, so no query API)"
fi
cat <<EOF
  Try the shop:   curl -s -H 'X-Session-Id: me' '$FE/product?item=sku-3'
                  curl -s -X POST '$FE/checkout?item=sku-3&session=me'
  Logs:           $LOGS/
Press Ctrl-C to stop.
EOF

# Foreground: until a signal, CS_RUN_SECONDS, or the daemon dies. Sleeping
# in the background and waiting lets the traps run at once on a signal.
start_s=$SECONDS
while :; do
  if [ "$RUN_SECONDS" -gt 0 ] && [ $((SECONDS - start_s)) -ge "$RUN_SECONDS" ]; then
    echo "run: CS_RUN_SECONDS=$RUN_SECONDS reached"
    break
  fi
  if ! kill -0 "${PIDS[0]}" 2>/dev/null; then
    echo "run: ${DAEMON[0]##*/} exited; see $LOGS/callscope.log" >&2
    break
  fi
  sleep 1 &
  wait $! || true
done
stop_all
