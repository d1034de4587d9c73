# Shell helpers the ingest benchmarks share (sourced by run.sh and
# flood.sh): reading "result key=value" lines, medians, and starting a
# callscope-collector on ephemeral ports with its log in a file.

# key=value from a "result ..." line (or a collector stats line).
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<< "$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'; }

# start_collector_bin BIN DATA_DIR LOG [flags...]: starts BIN in the background
# with only the native listeners, on ports 0; sets pid, tcp_port, udp_port.
start_collector_bin() {
  local bin=$1 data=$2 log=$3
  shift 3
  rm -rf "$data" "$log"
  "$bin" --data-dir "$data" --tcp-port 0 --udp-port 0 --no-otlp-http --no-zipkin \
    --no-statsd --stats-interval 3600s "$@" 2> "$log" &
  pid=$!
  for _ in $(seq 200); do
    grep -q "listening udp" "$log" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; echo "collector died" >&2; exit 1; }
    sleep 0.05
  done
  tcp_port=$(grep -o "listening tcp 127.0.0.1:[0-9]*" "$log" | head -1 | cut -d: -f2)
  udp_port=$(grep -o "listening udp 127.0.0.1:[0-9]*" "$log" | head -1 | cut -d: -f2)
  [ -n "$tcp_port" ] && [ -n "$udp_port" ] || { cat "$log" >&2; echo "no ports in the collector log" >&2; exit 1; }
}

# stop_collector: SIGTERM, wait; pid is cleared.
stop_collector() {
  kill "$pid"
  wait "$pid" || true
  pid=
}
