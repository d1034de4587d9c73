#!/usr/bin/env bash
# Checks that built ELF files carry the hardening the top-level
# CMakeLists.txt asks for (CS_HARDEN), the way checksec does: full RELRO
# (a GNU_RELRO segment and BIND_NOW), PIE for executables, stack canaries
# (__stack_chk_fail imported) and, with "fortify", FORTIFY_SOURCE (at least
# one __*_chk function imported). No text relocations anywhere.
#
# Usage: check_hardening.sh fortify|nofortify FILE...
# Exit status: 0 when every file passes, 1 otherwise (one line per miss).
set -uo pipefail
mode=${1:-}
shift || true
if [[ $mode != fortify && $mode != nofortify ]] || [ $# -eq 0 ]; then
  echo "usage: check_hardening.sh fortify|nofortify FILE..." >&2
  exit 2
fi
command -v readelf >/dev/null || { echo "check_hardening: readelf not found (binutils)" >&2; exit 2; }

fail=0
miss() { echo "check_hardening: $1: $2"; fail=1; }
for f in "$@"; do
  [ -f "$f" ] || { miss "$f" "no such file"; continue; }
  hdr=$(readelf -hW "$f") || { miss "$f" "not an ELF file"; continue; }
  dyn=$(readelf -dW "$f")
  phdr=$(readelf -lW "$f")
  syms=$(readelf -W --dyn-syms "$f" | awk '$7 == "UND" { print $8 }')
  grep -q "GNU_RELRO" <<<"$phdr" || miss "$f" "no GNU_RELRO segment (link with -z relro)"
  grep -Eq "\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW|\(BIND_NOW\)" <<<"$dyn" || miss "$f" "no BIND_NOW (link with -z now)"
  grep -q "TEXTREL" <<<"$dyn" && miss "$f" "has text relocations"
  if grep -Eq "Type:[[:space:]]+DYN" <<<"$hdr"; then
    # A shared object is position-independent by construction; an
    # executable of type DYN must also say PIE.
    if [[ $f != *.so && $f != *.so.* ]]; then
      grep -Eq "\(FLAGS_1\).*PIE" <<<"$dyn" || miss "$f" "type DYN but no PIE flag"
    fi
  else
    miss "$f" "not position-independent (ELF type is not DYN)"
  fi
  grep -q "^__stack_chk_fail" <<<"$syms" || miss "$f" "no stack protector (__stack_chk_fail not imported)"
  if [ "$mode" = fortify ]; then
    chk=$(grep -Ev "^__stack_chk_fail" <<<"$syms" | grep -E "^__[a-z0-9_]+_chk(@|$)")
    [ -n "$chk" ] || miss "$f" "no FORTIFY_SOURCE (no __*_chk function imported)"
  fi
done
[ $fail = 0 ] && echo "check_hardening: $# file(s) hardened ($mode)"
exit $fail
