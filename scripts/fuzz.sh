#!/usr/bin/env bash
# Fuzzes every libFuzzer target for a fixed time each (ASan + UBSan, leak
# detection on), starting from a scratch copy of its committed corpus, and
# prints one line per target: executions, coverage (cov/ft), corpus growth,
# crashes. A crash, leak, timeout or out-of-memory stops the run with the
# reproducer's path and exit status 1. Targets are every cs_add_fuzzer()
# in fuzz/, read from <build>/fuzz/targets.tsv. See docs/fuzzing.md.
set -uo pipefail

usage() {
  cat <<'EOF'
usage: scripts/fuzz.sh [options] [seconds-per-target]

Builds the fuzz tree (clang, ASan + UBSan, CS_FUZZ=ON) and fuzzes every
target for seconds-per-target (default 60) from a copy of its committed
corpus, so the tree stays clean unless --merge is given.

options:
  -j N             fuzz N targets at a time (default 1; the machine has few cores)
  --merge          afterwards minimise the inputs that add coverage into the
                   committed corpora (libFuzzer -merge=1); commit them
  --only REGEX     only targets whose name matches REGEX (grep -E)
  --build-dir DIR  build tree to use, relative to the repository (default build/fuzz)
  --no-build       use the tree as it is (no configure, no build)
  --log FILE       also append all output to FILE (for unattended long runs)
  --timeout S      seconds one input may take before it counts as a hang (default 5)
  --rss-mb MB      memory limit per target, also the largest single malloc (default 2048)
  -h, --help       this text

environment: CS_FUZZ_SECONDS is the default seconds-per-target (CTest's
fuzz-run tests use it too).
EOF
}

secs=${CS_FUZZ_SECONDS:-60}
jobs=1 merge=0 only= build=build/fuzz do_build=1 log= timeout_s=5 rss_mb=2048

# One target for $secs: prints its line; returns 1 on a finding.
# Work files go to $out/<name>/: corpus (the scratch copy), log, artifacts.
run_one() {
  local name=$1 bin=$2 corpus=$3 out=$4
  local dir=$out/$name
  rm -rf "$dir/corpus" "$dir/artifacts"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  [ -n "$corpus" ] && [ -d "$corpus" ] && cp -r "$corpus/." "$dir/corpus/"
  local seeds
  seeds=$(find "$dir/corpus" -type f | wc -l)
  # halt_on_error: a UBSan report is a finding, not a warning. Hard wall
  # clock guard in case the fuzzer itself wedges.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
    timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -timeout="$timeout_s" \
    -rss_limit_mb="$rss_mb" -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
  local rc=$?
  local execs cov ft units
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  units=$(find "$dir/corpus" -type f | wc -l)
  cov=$(grep -o 'cov: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$dir/log" | tail -1 | cut -d' ' -f2)
  local found
  found=$(find "$dir/artifacts" -type f ! -name 'slow-unit-*' | wc -l)
  printf '%-22s execs %10s  cov %5s  ft %6s  corpus %5s (+%s)  crashes %s  %s s\n' "$name" \
    "${execs:-?}" "${cov:-?}" "${ft:-?}" "$units" "$((units - seeds))" "$found" "$secs" |
    tee "$dir/summary"
  if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
    local what repro
    what=$(grep -m1 -oE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)[^(]*|runtime error:.*|==[0-9]+== ERROR: [^(]*' "$dir/log" | head -1)
    repro=$(sed -n "s/.*Test unit written to //p" "$dir/log" | tail -1)
    echo "FAIL $name: exit $rc: ${what:-see the log}"
    # The target's own message, if it printed one just before aborting.
    local msg
    msg=$(grep -m1 -B1 -E '^==[0-9]+==.*ERROR|^SUMMARY:|runtime error:' "$dir/log" | head -1)
    case $msg in '' | INFO:* | '#'* | ==*) ;; *) echo "  message:    $msg" ;; esac
    echo "  reproducer: ${repro:-none written}"
    echo "  log:        $dir/log"
    [ -n "$repro" ] && echo "  replay:     $bin $repro"
    return 1
  fi
  return 0
}

if [ "${1:-}" = "--run-one" ]; then # CTest's fuzz-run tests: name binary corpus out-dir
  [ $# -eq 5 ] || { echo "usage: fuzz.sh --run-one NAME BINARY CORPUS OUT-DIR" >&2; exit 2; }
  secs=${CS_FUZZ_SECONDS:-30}
  run_one "$2" "$3" "$4" "$5"
  exit $?
fi

while [ $# -gt 0 ]; do
  case $1 in
  -j) jobs=${2:?-j needs a number}; shift ;;
  -j[0-9]*) jobs=${1#-j} ;;
  --merge) merge=1 ;;
  --only) only=${2:?--only needs a pattern}; shift ;;
  --build-dir) build=${2:?--build-dir needs a directory}; shift ;;
  --no-build) do_build=0 ;;
  --log) log=${2:?--log needs a file}; shift ;;
  --timeout) timeout_s=${2:?--timeout needs seconds}; shift ;;
  --rss-mb) rss_mb=${2:?--rss-mb needs megabytes}; shift ;;
  -h | --help) usage; exit 0 ;;
  -*) echo "fuzz.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
  *) secs=$1 ;;
  esac
  shift
done
for v in "$secs" "$jobs" "$timeout_s" "$rss_mb"; do
  case $v in '' | *[!0-9]* | 0) echo "fuzz.sh: not a positive number: '$v'" >&2; exit 2 ;; esac
done

case $log in '' | /*) ;; *) log=$PWD/$log ;; esac # relative to where we were started
cd "$(dirname "$0")/.."
if [ -n "$log" ]; then
  mkdir -p "$(dirname "$log")"
  exec > >(tee -a "$log") 2>&1
fi

if [ "$do_build" = 1 ]; then
  echo "== configure and build $build (clang, ASan + UBSan, CS_FUZZ=ON)"
  CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-O1 \
    -DCMAKE_CXX_FLAGS=-O1 -DCS_SANITIZE=ON -DCS_FUZZ=ON -DCS_BENCH=OFF >/dev/null || exit 1
fi
list=$build/fuzz/targets.tsv
[ -f "$list" ] || { echo "fuzz.sh: no $list (configure with clang and -DCS_FUZZ=ON)" >&2; exit 1; }
names=()
while IFS=$'\t' read -r n _; do
  if [ -z "$only" ] || grep -qE "$only" <<<"$n"; then names+=("$n"); fi
done <"$list"
[ ${#names[@]} -gt 0 ] || { echo "fuzz.sh: no target matches '$only'" >&2; exit 1; }
if [ "$do_build" = 1 ]; then
  cmake --build "$build" -j"$(nproc)" --target "${names[@]}" >"$build/fuzz-build.log" 2>&1 ||
    { tail -40 "$build/fuzz-build.log"; echo "fuzz.sh: build failed ($build/fuzz-build.log)"; exit 1; }
fi

out=$build/fuzz-run
echo "== fuzzing ${#names[@]} targets for $secs s each, $jobs at a time ($(date -u +%FT%TZ)); work files in $out/"
failed=0 running=0
while IFS=$'\t' read -r name bin corpus; do
  [[ " ${names[*]} " == *" $name "* ]] || continue
  [ "$failed" = 0 ] || break # a finding stops the run: no new targets start
  run_one "$name" "$bin" "$corpus" "$out" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done <"$list"
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
if [ "$failed" != 0 ]; then
  echo "== fuzzing FAILED ($(date -u +%FT%TZ)): see FAIL above"
  exit 1
fi
echo "== fuzzing passed: ${#names[@]} targets, 0 crashes, 0 leaks, 0 timeouts ($(date -u +%FT%TZ))"

if [ "$merge" = 1 ]; then
  echo "== merging new coverage into the committed corpora (-merge=1)"
  while IFS=$'\t' read -r name bin corpus; do
    [[ " ${names[*]} " == *" $name "* ]] || continue
    [ -n "$corpus" ] || { echo "$name: no committed corpus, skipped"; continue; }
    mkdir -p "$corpus"
    before=$(find "$corpus" -type f | wc -l)
    ASAN_OPTIONS=detect_leaks=0 "$bin" -merge=1 -timeout="$timeout_s" -rss_limit_mb="$rss_mb" \
      "$corpus" "$out/$name/corpus" >"$out/$name/merge.log" 2>&1 ||
      { echo "$name: merge failed, see $out/$name/merge.log"; exit 1; }
    after=$(find "$corpus" -type f | wc -l)
    echo "$name: +$((after - before)) inputs into $corpus ($after now)"
  done <"$list"
fi
exit 0
