#!/usr/bin/env bash
# Installs libcallscope-trace from a build tree into a temporary prefix and
# builds tests/libtrace/install/tiny.c outside the tree four ways: pkg-config
# shared and static, CMake find_package shared and static. Each binary must
# run and print "tiny ok"; static ones must not need the .so.
# usage: install_test.sh <build-dir> <source-dir>
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/cst-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --component callscope-trace --prefix "$tmp/prefix" >/dev/null
libdir=$(ls -d "$tmp"/prefix/lib*/ | head -1)
libdir=${libdir%/}
for f in "$tmp/prefix/include/callscope/trace.h" "$libdir/libcallscope-trace.so" \
         "$libdir/libcallscope-trace.a" "$libdir/pkgconfig/callscope-trace.pc" \
         "$libdir/cmake/CallscopeTrace/CallscopeTraceConfig.cmake"; do
  [ -e "$f" ] || { echo "not installed: $f"; exit 1; }
done
# Nothing may clash with Debian's packet-capture libtrace.
if find "$tmp/prefix" -name 'libtrace*' -o -name 'trace.pc' -o -name 'libtrace.h' | grep -q .; then
  echo "installed a name that clashes with Debian's libtrace"; exit 1
fi
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc=${CC:-cc}
cp "$src/tests/libtrace/install/tiny.c" "$tmp/"
cd "$tmp"
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Werror tiny.c -o tiny_pc_shared $(pkg-config --cflags --libs callscope-trace)
# The documented way for a prefix outside the loader's path: the .pc's
# rpath variable, so the program runs without LD_LIBRARY_PATH.
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Werror tiny.c -o tiny_pc_rpath $(pkg-config --cflags --libs callscope-trace) \
  $(pkg-config --variable=rpath callscope-trace)
# shellcheck disable=SC2046
$cc -std=c11 -Wall -Werror tiny.c -o tiny_pc_static $(pkg-config --cflags callscope-trace) \
  -L"$libdir" -Wl,-Bstatic -lcallscope-trace -Wl,-Bdynamic \
  $(pkg-config --static --libs-only-l callscope-trace | sed 's/-lcallscope-trace//')
cmake -S "$src/tests/libtrace/install" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$tmp/cm" >/dev/null
fail=0
run() {
  local bin=$1 want_so=$2 ldpath=${3-$libdir} out
  out=$(LD_LIBRARY_PATH="$ldpath" "$bin" 2>&1) || { echo "$bin failed: $out"; fail=1; return; }
  [ "$out" = "tiny ok" ] || { echo "$bin printed: $out"; fail=1; }
  if readelf -d "$bin" | grep -q 'libcallscope-trace.so'; then has=1; else has=0; fi
  [ "$has" = "$want_so" ] || { echo "$bin: needs .so = $has, want $want_so"; fail=1; }
  echo "ok   $(basename "$bin")"
}
run "$tmp/tiny_pc_shared" 1
run "$tmp/tiny_pc_rpath" 1 ""   # no LD_LIBRARY_PATH: found through the rpath
run "$tmp/tiny_pc_static" 0
run "$tmp/cm/tiny_shared" 1 ""  # CMake puts the imported library's directory in the build rpath
run "$tmp/cm/tiny_static" 0
exit $fail
