#!/usr/bin/env bash
# The ingest benchmark (docs/benchmarks.md): in one invocation, the per-span
# RocksDB baseline and the real callscope-collector fed by cs-loadgen, over
# TCP with acknowledgements (as fast as it takes) and over UDP at a fixed
# rate; each RUNS times, reporting medians. Builds nothing: pass the build
# directory (default build/release).
# Usage: bench/ingest/run.sh [build-dir]
# Knobs (environment): RUNS=3 TCP_SECS=8 UDP_SECS=4 UDP_RATE=100000 CONNS=2
#   BATCH=1000 BASELINE_SPANS=300000 UDP_SIZE=32768 PERF=0 (1: perf profile
#   of the collector during the first TCP phase) KEEP=0 (1: keep temp dirs)
#   LOADGEN_ARGS= (extra cs-loadgen options for both phases, e.g.
#   --per-service: frames of one service's spans instead of whole traces)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
RUNS=${RUNS:-3} TCP_SECS=${TCP_SECS:-8} UDP_SECS=${UDP_SECS:-4} UDP_RATE=${UDP_RATE:-100000}
CONNS=${CONNS:-2} BATCH=${BATCH:-1000} BASELINE_SPANS=${BASELINE_SPANS:-300000}
UDP_SIZE=${UDP_SIZE:-32768} PERF=${PERF:-0} KEEP=${KEEP:-0} LOADGEN_ARGS=${LOADGEN_ARGS:-}

collector=$build/collector/callscope-collector
loadgen=$build/bench/ingest/cs-loadgen
baseline=$build/bench/ingest/cs-ingest-baseline
compact=$build/bench/ingest/cs-store-compact
for b in "$collector" "$loadgen" "$baseline" "$compact"; do
  [ -x "$b" ] || { echo "missing $b: cmake --build $build --target callscope-collector cs-loadgen cs-ingest-baseline cs-store-compact" >&2; exit 1; }
done

. bench/ingest/lib.sh
tmp=$(mktemp -d /tmp/cs-ingest-bench.XXXXXX)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ "$KEEP" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
tck=$(getconf CLK_TCK)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "tid comm ticks" for every thread of a process.
thread_ticks() {
  for t in /proc/"$1"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr -d ' ' < "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null)"
  done
}
# CPU seconds of the collector's threads between two thread_ticks
# snapshots: "loop writer rocksdb". loop is the main thread (event loop:
# read, decode, validate); writer is every other collector thread (the store
# writer); rocksdb is RocksDB's flush and compaction threads.
thread_cpu() { # before after pid
  awk -v pid="$3" -v tck="$tck" 'NR==FNR {b[$1]=$3; next}
    { d = ($3 - b[$1]) / tck; if ($1 == pid) l += d; else if ($2 ~ /^rocksdb/) r += d; else w += d }
    END { printf "%.3f %.3f %.3f", l, w, r }' "$1" "$2"
}
# The kernel's count of datagrams dropped because a UDP socket's receive
# buffer was full (whole machine; only our traffic matters during the run).
udp_rcvbuf_errors() {
  awk '/^Udp:/ { if (!h) { for (i = 1; i <= NF; i++) col[$i] = i; h = 1 } else print $col["RcvbufErrors"] }' /proc/net/snmp
}

start_collector() { start_collector_bin "$collector" "$tmp/data" "$tmp/log"; }

declare -a B_RATE B_BYTES B_CPU T_RATE T_CPU T_LGCPU T_LOOP T_WRITER T_ROCKS U_KDROP U_SENT U_LOSS U_DROP RSS BYTES
for run in $(seq "$RUNS"); do
  echo "== run $run/$RUNS" >&2
  # 1. Baseline: span key + 4 index keys per span straight into RocksDB.
  out=$("$baseline" --dir "$tmp/baseline$run" --spans "$BASELINE_SPANS" | grep '^result')
  B_RATE+=("$(field "$out" spans_per_s)")
  B_BYTES+=("$(field "$out" bytes_per_span)")
  B_CPU+=("$(awk -v c="$(field "$out" cpu_s)" -v n="$(field "$out" spans)" 'BEGIN{printf "%.2f", c/n*1e6}')")
  rm -rf "$tmp/baseline$run"

  # 2. Collector over TCP: every span counted is acknowledged, i.e. stored
  # with its indexes and summaries in RocksDB's WAL.
  start_collector
  c0=$(cpu_ticks "$pid")
  thread_ticks "$pid" > "$tmp/threads0"
  if [ "$PERF" = 1 ] && [ "$run" = 1 ] && command -v perf >/dev/null; then
    perf record -o "$tmp/perf.data" -p "$pid" -- sleep "$TCP_SECS" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  out=$("$loadgen" --tcp "127.0.0.1:$tcp_port" --duration "$TCP_SECS" --conns "$CONNS" \
    --batch "$BATCH" --seed "$run" $LOADGEN_ARGS | grep '^result')
  c1=$(cpu_ticks "$pid")
  thread_ticks "$pid" > "$tmp/threads1"
  [ -n "${perf_pid:-}" ] && { wait "$perf_pid" || true; perf_pid=; }
  acked=$(field "$out" acked_spans)
  [ "$(field "$out" failed)" = 0 ] || { echo "loadgen failed: $out" >&2; exit 1; }
  T_RATE+=("$(field "$out" spans_per_s)")
  read -r lcpu wcpu rcpu <<< "$(thread_cpu "$tmp/threads0" "$tmp/threads1" "$pid")"
  T_LOOP+=("$(awk -v c="$lcpu" -v n="$acked" 'BEGIN{printf "%.2f", c/n*1e6}')")
  T_WRITER+=("$(awk -v c="$wcpu" -v n="$acked" 'BEGIN{printf "%.2f", c/n*1e6}')")
  T_ROCKS+=("$(awk -v c="$rcpu" -v n="$acked" 'BEGIN{printf "%.2f", c/n*1e6}')")
  busy="loop ${T_LOOP[-1]}, writer ${T_WRITER[-1]}, rocksdb ${T_ROCKS[-1]}"
  T_LGCPU+=("$(awk -v c="$(field "$out" cpu_s)" -v n="$acked" 'BEGIN{printf "%.2f", c/n*1e6}')")
  T_CPU+=("$(awk -v a="$c0" -v b="$c1" -v t="$tck" -v n="$acked" 'BEGIN{printf "%.2f", (b-a)/t/n*1e6}')")

  # 3. Collector over UDP at a fixed rate: loss = sent - received.
  k0=$(udp_rcvbuf_errors)
  out=$("$loadgen" --udp "127.0.0.1:$udp_port" --duration "$UDP_SECS" --rate "$UDP_RATE" \
    --udp-size "$UDP_SIZE" --seed $((run + 100)) $LOADGEN_ARGS | grep '^result')
  sent=$(field "$out" sent_spans)
  U_SENT+=("$(field "$out" spans_per_s)")
  sleep 1 # let the collector drain its socket and queue
  U_KDROP+=("$(( $(udp_rcvbuf_errors) - k0 ))")
  RSS+=("$(awk '/VmHWM/{printf "%.0f", $2/1024}' "/proc/$pid/status")")
  kill "$pid"
  wait "$pid" || true
  pid=
  stats=$(grep ' stats frames' "$tmp/log" | tail -1)
  got=$(sed -n 's/.* spans udp=\([0-9]*\) .*/\1/p' <<< "$stats")
  written=$(sed -n 's/.* written=\([0-9]*\) .*/\1/p' <<< "$stats")
  U_DROP+=("$(sed -n 's/.* udp_dropped=\([0-9]*\) .*/\1/p' <<< "$stats")")
  U_LOSS+=("$(awk -v s="$sent" -v g="$got" 'BEGIN{printf "%.3f", s ? (s-g)/s*100 : 0}')")

  # 4. Bytes on disk per span after a full compaction.
  out=$("$compact" "$tmp/data" | grep '^result')
  BYTES+=("$(awk -v d="$(field "$out" disk_bytes)" -v n="$written" 'BEGIN{printf "%.1f", d/n}')")
  echo "   baseline ${B_RATE[-1]}/s ${B_BYTES[-1]} B/span | tcp ${T_RATE[-1]}/s ${T_CPU[-1]} cpu-s/M ($busy) | udp loss ${U_LOSS[-1]}% | rss ${RSS[-1]} MB | ${BYTES[-1]} B/span ($written spans)" >&2
done

row() { # name target unit values...
  local name=$1 target=$2; shift 2
  printf "%-40s %12s %12s   %s\n" "$name" "$(median "$@")" "$target" "$*"
}
echo
echo "Ingest benchmark: $RUNS runs, TCP ${TCP_SECS}s x $CONNS conns (batch $BATCH), UDP ${UDP_SECS}s at $UDP_RATE spans/s, baseline $BASELINE_SPANS spans ${LOADGEN_ARGS:+(loadgen $LOADGEN_ARGS)}"
printf "%-40s %12s %12s   %s\n" metric median target "runs"
row "baseline: spans/s (span + 4 index keys)" "" "${B_RATE[@]}"
row "baseline: CPU s per million spans" "" "${B_CPU[@]}"
row "baseline: bytes/span after compaction" "" "${B_BYTES[@]}"
row "collector TCP: spans/s stored+indexed" ">=300000" "${T_RATE[@]}"
ratios=()
for i in "${!T_RATE[@]}"; do ratios+=("$(awk -v t="${T_RATE[$i]}" -v b="${B_RATE[$i]}" 'BEGIN{printf "%.2f", t/b}')"); done
row "collector TCP / baseline" ">5" "${ratios[@]}"
row "collector CPU s per million spans" "" "${T_CPU[@]}"
eff=()
for i in "${!T_CPU[@]}"; do eff+=("$(awk -v t="${T_CPU[$i]}" -v b="${B_CPU[$i]}" 'BEGIN{printf "%.2f", b/t}')"); done
row "  baseline CPU / collector CPU per span" "" "${eff[@]}"
row "  of which event loop (read, decode)" "" "${T_LOOP[@]}"
row "  of which store writer thread" "" "${T_WRITER[@]}"
row "  of which RocksDB flush/compaction" "" "${T_ROCKS[@]}"
row "loadgen CPU s per million spans" "" "${T_LGCPU[@]}"
# What the pipeline could do if its busiest thread had a core to itself and
# the whole process (plus the load generator) fit in 2 cores: a ceiling
# that does not depend on how busy the machine was during the run.
ceil=()
for i in "${!T_RATE[@]}"; do
  ceil+=("$(awk -v l="${T_LOOP[$i]}" -v w="${T_WRITER[$i]}" -v t="${T_CPU[$i]}" -v g="${T_LGCPU[$i]}" \
    'BEGIN{m = l > w ? l : w; a = 1e6 / m; b = 2e6 / (t + g); printf "%.0f", a < b ? a : b}')")
done
row "CPU-bound ceiling on 2 idle cores" ">=300000" "${ceil[@]}"
row "collector UDP: spans/s sent" "$UDP_RATE" "${U_SENT[@]}"
row "collector UDP: loss %" "0" "${U_LOSS[@]}"
row "collector UDP: datagrams dropped (own)" "0" "${U_DROP[@]}"
row "  kernel: receive buffer full (datagrams)" "0" "${U_KDROP[@]}"
row "collector peak RSS MB (VmHWM)" "<300" "${RSS[@]}"
row "collector bytes/span after compaction" "<=60" "${BYTES[@]}"
if [ -f "$tmp/perf.data" ]; then
  echo
  echo "perf: collector during run 1's TCP phase, top symbols (self time)"
  perf report -i "$tmp/perf.data" --no-children --sort symbol --stdio 2>/dev/null |
    grep -v '^#' | grep '%' | head -25 | sed 's/  *$//' | cut -c1-110
fi
