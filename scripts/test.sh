#!/usr/bin/env bash
# The whole test suite: installs dependencies, then builds and runs every
# test through CTest twice: a Release build, and a clang ASan+UBSan build
# that also replays the fuzz corpora.
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

exit $rc
