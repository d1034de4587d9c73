#!/usr/bin/env bash
# Ingest throughput per protocol in one run: native frames over TCP
# (cs-loadgen), OTLP/HTTP protobuf and OTLP/HTTP JSON (cs-otlp-http-sender),
# each into a fresh callscope-collector with its own data directory, all
# with the same workload, connection count and batch size. Prints spans/s
# (every span acknowledged as durable) and the collector's CPU seconds per
# million spans, read from /proc before and after each run.
# Usage: bench/ingest/run_otlp.sh [build-dir] [spans] [conns] [batch]
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
spans=${2:-300000}
conns=${3:-4}
batch=${4:-1000}
collector=$build/collector/callscope-collector
loadgen=$build/bench/ingest/cs-loadgen
sender=$build/bench/ingest_otlp/cs-otlp-http-sender
for b in "$collector" "$loadgen" "$sender"; do
  [ -x "$b" ] || { echo "missing $b: cmake --build $build --target callscope-collector cs-loadgen cs-otlp-http-sender" >&2; exit 1; }
done
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_collector() {
  rm -rf "$tmp/data" "$tmp/log"
  "$collector" --data-dir "$tmp/data" --tcp-port 0 --udp-port -1 --otlp-http-port 0 \
    --no-zipkin --no-statsd --stats-interval 3600 2> "$tmp/log" &
  pid=$!
  for _ in $(seq 100); do
    grep -q "listening otlp-http" "$tmp/log" 2>/dev/null && break
    sleep 0.05
  done
  tcp_port=$(grep -o "listening tcp 127.0.0.1:[0-9]*" "$tmp/log" | cut -d: -f2)
  http_port=$(grep -o "listening otlp-http 127.0.0.1:[0-9]*" "$tmp/log" | cut -d: -f2)
}

stop_collector() { kill "$pid"; wait "$pid" || true; pid=; }

printf "%-16s %12s %10s %22s\n" protocol spans/s seconds "collector CPU s/Mspans"
declare -A rate
for proto in native-tcp otlp-http-proto otlp-http-json; do
  start_collector
  c0=$(cpu_ticks "$pid")
  case $proto in
  native-tcp) out=$("$loadgen" --tcp "127.0.0.1:$tcp_port" --spans "$spans" --conns "$conns" --batch "$batch" | grep '^result') ;;
  otlp-http-proto) out=$("$sender" --port "$http_port" --format proto --spans "$spans" --conns "$conns" --batch "$batch") ;;
  otlp-http-json) out=$("$sender" --port "$http_port" --format json --spans "$spans" --conns "$conns" --batch "$batch") ;;
  esac
  c1=$(cpu_ticks "$pid")
  stop_collector
  secs=$(sed -n 's/.* secs=\([0-9.]*\).*/\1/p' <<< "$out")
  sps=$(sed -n 's/.* spans_per_s=\([0-9]*\).*/\1/p' <<< "$out")
  rate[$proto]=$sps
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$tck" -v n="$spans" 'BEGIN{printf "%.2f", (b - a) / t / n * 1e6}')
  printf "%-16s %12s %10s %22s\n" "$proto" "$sps" "$secs" "$cpu"
done
awk -v p="${rate[otlp-http-proto]}" -v j="${rate[otlp-http-json]}" -v n="${rate[native-tcp]}" \
  'BEGIN{printf "OTLP/HTTP protobuf = %.0f%% of native TCP, JSON = %.0f%% (target: protobuf >= 70%%)\n", 100*p/n, 100*j/n}'
