#!/usr/bin/env bash
# The whole test suite: installs dependencies, then builds and runs every
# test through CTest: a Release build, a clang ASan+UBSan build that also
# replays the fuzz corpora and then fuzzes every target for 30 s, and a
# ThreadSanitizer build of libtrace's multi-threaded unit tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-deps.sh
[ -x scripts/setup-test-tools.sh ] && bash scripts/setup-test-tools.sh
jobs=$(nproc)
rc=0

echo "== release build"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DCS_BENCH=ON >/dev/null
cmake --build build/release -j"$jobs"
(cd build/release && ctest --output-on-failure -j"$jobs") || rc=1

echo "== sanitizer build (clang, ASan + UBSan, fuzz replay)"
CC=clang CXX=clang++ cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DCS_SANITIZE=ON \
  -DCS_FUZZ=ON -DCS_BENCH=OFF >/dev/null
cmake --build build/asan -j"$jobs"
(cd build/asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$jobs" -LE release-only) || rc=1

# Fuzzing for a fixed time, not only a replay: every cs_add_fuzzer target
# (tests <target>_run, CTest configuration and label fuzz-run), two at a
# time, then each target's execs/cov line. docs/fuzzing.md.
echo "== fuzzing every target for ${CS_FUZZ_SECONDS:=30} s (asan tree, ctest -C fuzz-run)"
rm -rf build/asan/fuzz-run
(cd build/asan && CS_FUZZ_SECONDS=$CS_FUZZ_SECONDS ctest --output-on-failure -j"$jobs" \
  -C fuzz-run -L fuzz-run) || rc=1
cat build/asan/fuzz-run/*/summary 2>/dev/null || true

echo "== thread sanitizer build (libtrace unit tests)"
CC=clang CXX=clang++ cmake -S . -B build/tsan -DCMAKE_BUILD_TYPE=Debug -DCS_TSAN=ON \
  -DCS_BENCH=OFF >/dev/null
tsan_tests=(libtrace_ring libtrace_ids_sampling libtrace_spans libtrace_metrics libtrace_exporter)
cmake --build build/tsan -j"$jobs" --target "${tsan_tests[@]}"
(cd build/tsan && TSAN_OPTIONS=halt_on_error=1 \
  ctest --output-on-failure -j"$jobs" -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$") || rc=1

exit $rc
