#!/usr/bin/env bash
# What the hardening flags cost (docs/benchmarks.md, "Hardened build"):
# builds Release twice, with CS_HARDEN=ON (build/harden-on) and OFF
# (build/harden-off), then runs the ingest benchmark (bench/ingest/run.sh,
# one round per invocation) and bench_libtrace on both, alternating
# ON OFF OFF ON ... so that a change in the machine's load hits both alike,
# and prints each figure's median for ON and OFF, the difference, and every
# round's value.
# Usage: bench/harden-compare.sh [rounds]      (default 4; about 1 min/round)
# Knobs: BUILD_ON=dir BUILD_OFF=dir (reuse existing trees), NO_BUILD=1,
#   LIBTRACE_N=n (bench_libtrace ops, default 400000), INGEST_ENV="TCP_SECS=8"
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-4}
[[ $ROUNDS =~ ^[0-9]+$ ]] && [ "$ROUNDS" -gt 0 ] || { echo "rounds must be a positive number" >&2; exit 2; }
ON=${BUILD_ON:-build/harden-on}
OFF=${BUILD_OFF:-build/harden-off}
N=${LIBTRACE_N:-400000}
targets=(callscope-collector cs-loadgen cs-ingest-baseline cs-store-compact bench_libtrace)
if [ "${NO_BUILD:-}" != 1 ]; then
  for cfg in "$ON ON" "$OFF OFF"; do
    set -- $cfg
    cmake -S . -B "$1" -DCMAKE_BUILD_TYPE=Release -DCS_BENCH=ON -DCS_HARDEN="$2" >/dev/null
    cmake --build "$1" -j"$(nproc)" --target "${targets[@]}" >/dev/null
  done
fi
tmp=$(mktemp -d /tmp/cs-harden.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# One round of each benchmark on one tree; appends "metric value" lines to
# $tmp/<ON|OFF>.
run_one() { # tree label
  local out
  out=$(env RUNS=1 ${INGEST_ENV:-} bench/ingest/run.sh "$1" 2>&1) || { echo "$out" >&2; return 1; }
  awk -v l="$2" '
    /^collector TCP: spans\/s/             { print "ingest: TCP spans/s (higher is better)", $(NF) }
    /^collector CPU s per million spans/  { print "ingest: collector CPU s per M spans", $(NF) }
    /^  of which event loop/              { print "ingest:   event loop (read, decode)", $(NF) }
    /^  of which store writer/            { print "ingest:   store writer thread", $(NF) }
    /^  of which RocksDB/                 { print "ingest:   RocksDB flush/compaction", $(NF) }
    /^baseline: CPU s per million spans/  { print "ingest: RocksDB-only baseline CPU s per M", $(NF) }
  ' <<<"$out" >>"$tmp/$2"
  out=$("$1/bench/libtrace/bench_libtrace" "$N" 2>&1) || { echo "$out" >&2; return 1; }
  # Pinned table: operation (44 columns), CPU, wall, cpu, floor, ratio; the
  # thread CPU ns of each row, one line per CPU.
  awk '/^pinned, 1 thread/ { p = 1; next } /^unpinned/ { p = 0 }
       p && NF >= 6 && $0 !~ /^operation/ {
         name = substr($0, 1, 44); sub(/ +$/, "", name); rest = substr($0, 45)
         split(rest, f, " "); print "libtrace ns cpu: " name " (CPU " f[1] ")", f[3] }' <<<"$out" >>"$tmp/$2"
}

echo "hardening cost: $ROUNDS rounds, order ON OFF OFF ON ...; ON=$ON OFF=$OFF; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 0; r < ROUNDS; r++)); do
  if ((r % 2 == 0)); then order=(ON OFF); else order=(OFF ON); fi
  for l in "${order[@]}"; do
    if [ "$l" = ON ]; then run_one "$ON" ON; else run_one "$OFF" OFF; fi
  done
  echo "round $((r + 1)) done, load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
done

median() { sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
printf '%-58s %10s %10s %8s   %s\n' figure "ON" "OFF" "ON/OFF" "rounds ON | OFF"
# Metric names in first-seen order.
awk '{ v = $NF; $NF = ""; sub(/ $/, ""); if (!($0 in seen)) { seen[$0] = 1; print } }' "$tmp/ON" |
  while IFS= read -r m; do
    vals() { awk -v m="$m" '{ v = $NF; $NF = ""; sub(/ $/, ""); if ($0 == m) print v }' "$tmp/$1"; }
    on=$(vals ON | median)
    off=$(vals OFF | median)
    ratio=$(awk -v a="$on" -v b="$off" 'BEGIN { if (b > 0) printf "%+.1f%%", (a / b - 1) * 100; else print "-" }')
    printf '%-58s %10s %10s %8s   %s | %s\n' "$m" "$on" "$off" "$ratio" "$(vals ON | tr '\n' ' ')" "$(vals OFF | tr '\n' ' ')"
  done
# Instructions, not seconds: callgrind counts what one sampled span (start
# + 4 attributes + end) executes on the host thread, the same on every run
# whatever the machine's load; needs valgrind.
if command -v valgrind >/dev/null; then
  for l in ON OFF; do
    if [ "$l" = ON ]; then tree=$ON; else tree=$OFF; fi
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.$l" --toggle-collect=op_span \
      "$tree/bench/libtrace/bench_libtrace" 1000 "span sampled" >/dev/null 2>&1
    total=$(callgrind_annotate "$tmp/cg.$l" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
    id=$(grep -m1 -oP 'fn=\(\K[0-9]+(?=\) cst_span_start$)' "$tmp/cg.$l")
    spans=$(awk -v c="cfn=($id)" '$1 == c { getline; split($1, a, "="); n += a[2] } END { print n }' "$tmp/cg.$l")
    echo "$l $((total / spans))" >>"$tmp/ir"
  done
  on=$(awk '$1 == "ON" { print $2 }' "$tmp/ir")
  off=$(awk '$1 == "OFF" { print $2 }' "$tmp/ir")
  printf '%-58s %10s %10s %8s   (callgrind, deterministic)\n' "libtrace instructions per sampled span" "$on" "$off" \
    "$(awk -v a="$on" -v b="$off" 'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }')"
fi
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
