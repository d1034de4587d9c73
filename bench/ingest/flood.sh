#!/usr/bin/env bash
# The UDP flood benchmark (docs/benchmarks.md): does fire-and-forget UDP
# take the writer from senders that wait for acknowledgements? Each round
# runs a fresh callscope-collector per phase: (1) acked TCP alone, (2) the
# same acked TCP while a UDP flood is offered at the rate the writer
# sustains (by default the rate phase 1 acknowledged). Prints the median
# acked TCP rate of each phase and their ratio. With more build
# directories the same rounds also run their collectors, interleaved, so
# a change is compared with its baseline in one invocation.
# Usage: bench/ingest/flood.sh [build-dir [compare-build-dir...]]
# Knobs (environment): RUNS=3 TCP_SECS=8 CONNS=2 BATCH=1000 WINDOW=8
#   UDP_RATE=auto (spans/s; auto = phase 1's acked rate times UDP_FACTOR=1)
#   UDP_SIZE=32768
#   FLAGS= (extra collector flags, e.g. --max-udp-queue-mb 8) KEEP=0
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/release}
RUNS=${RUNS:-3} TCP_SECS=${TCP_SECS:-8} CONNS=${CONNS:-2} BATCH=${BATCH:-1000}
WINDOW=${WINDOW:-8} UDP_RATE=${UDP_RATE:-auto} UDP_FACTOR=${UDP_FACTOR:-1} UDP_SIZE=${UDP_SIZE:-32768}
FLAGS=${FLAGS:-} KEEP=${KEEP:-0}

loadgen=$build/bench/ingest/cs-loadgen
collectors=("$build/collector/callscope-collector")
for d in "${@:2}"; do collectors+=("$d/collector/callscope-collector"); done
for b in "$loadgen" "${collectors[@]}"; do
  [ -x "$b" ] || { echo "missing $b: cmake --build <dir> --target callscope-collector cs-loadgen" >&2; exit 1; }
done

. bench/ingest/lib.sh
tmp=$(mktemp -d /tmp/cs-flood-bench.XXXXXX)
pid= udp_pid=
cleanup() {
  [ -n "$udp_pid" ] && { kill "$udp_pid" 2>/dev/null || true; wait "$udp_pid" 2>/dev/null || true; }
  [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
  if [ "$KEEP" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# One acked TCP phase against the running collector; prints spans/s.
# Exit status 3 (some spans unacknowledged when it gave up) still counts:
# under starvation that is the measurement.
tcp_phase() { # seed
  local out
  out=$("$loadgen" --tcp "127.0.0.1:$tcp_port" --duration "$TCP_SECS" --conns "$CONNS" \
    --batch "$BATCH" --window "$WINDOW" --drain 10 --ack-timeout 20 --seed "$1" |
    grep '^result') || true
  [ "$(field "$out" failed)" = 0 ] || { echo "loadgen failed: $out" >&2; exit 1; }
  field "$out" spans_per_s
}

# Per collector c: ALONE_c, FLOOD_c, RATIO_c arrays (space-separated runs),
# and the flood phase's UDP figures.
declare -A ALONE FLOOD RATIO UDP_SENT UDP_STORED UDP_DROP UDP_KDROP PAUSES
for run in $(seq "$RUNS"); do
  for c in "${!collectors[@]}"; do
    bin=${collectors[$c]}
    echo "== run $run/$RUNS: ${bin}" >&2
    # shellcheck disable=SC2086
    start_collector_bin "$bin" "$tmp/data" "$tmp/log" $FLAGS
    alone=$(tcp_phase "$run")
    stop_collector
    rate=$UDP_RATE
    [ "$rate" = auto ] && rate=$(awk -v a="$alone" -v f="$UDP_FACTOR" 'BEGIN{printf "%.0f", a * f}')

    # shellcheck disable=SC2086
    start_collector_bin "$bin" "$tmp/data" "$tmp/log" $FLAGS
    "$loadgen" --udp "127.0.0.1:$udp_port" --duration $((TCP_SECS + 12)) --rate "$rate" \
      --udp-size "$UDP_SIZE" --seed $((run + 100)) > "$tmp/udp.out" &
    udp_pid=$!
    sleep 2 # the flood reaches its steady state first
    flood=$(tcp_phase $((run + 10)))
    kill -INT "$udp_pid" 2>/dev/null || true
    wait "$udp_pid" || true
    udp_pid=
    stop_collector
    udp_out=$(grep '^result' "$tmp/udp.out" || true)
    stats=$(grep ' stats frames' "$tmp/log" | tail -1)
    ratio=$(awk -v f="$flood" -v a="$alone" 'BEGIN{printf "%.2f", (a > 0 ? f / a : 0)}')
    ALONE[$c]+="$alone " FLOOD[$c]+="$flood " RATIO[$c]+="$ratio "
    UDP_SENT[$c]+="$(field "$udp_out" spans_per_s) "
    UDP_STORED[$c]+="$(sed -n 's/.* spans udp=\([0-9]*\) .*/\1/p' <<< "$stats") "
    UDP_DROP[$c]+="$(field "$stats" udp_dropped_spans) "
    UDP_KDROP[$c]+="$(field "$stats" udp_kernel_drops) "
    PAUSES[$c]+="$(field "$stats" tcp_pauses) "
    echo "   tcp alone $alone/s, under a udp flood of $rate/s: $flood/s (ratio $ratio)" >&2
  done
done

row() { # name values...
  local name=$1
  shift
  # shellcheck disable=SC2068
  printf "%-44s %12s   %s\n" "$name" "$(median $@)" "$*"
}
echo
echo "UDP flood benchmark: $RUNS runs, acked TCP ${TCP_SECS}s x $CONNS conns (batch $BATCH," \
  "window $WINDOW), UDP at ${UDP_RATE/auto/$UDP_FACTOR x the TCP-alone rate} spans/s in datagrams of up to $UDP_SIZE bytes${FLAGS:+, flags $FLAGS}"
for c in "${!collectors[@]}"; do
  echo
  echo "${collectors[$c]}"
  printf "%-44s %12s   %s\n" metric median runs
  row "acked TCP spans/s, alone" ${ALONE[$c]}
  row "acked TCP spans/s, under the UDP flood" ${FLOOD[$c]}
  row "ratio flood / alone (target >= 0.5)" ${RATIO[$c]}
  row "UDP spans/s offered" ${UDP_SENT[$c]}
  row "UDP spans stored (flood phase)" ${UDP_STORED[$c]}
  row "UDP spans dropped by the collector" ${UDP_DROP[$c]}
  row "UDP datagrams dropped by the kernel" ${UDP_KDROP[$c]}
  row "TCP read pauses" ${PAUSES[$c]}
done
