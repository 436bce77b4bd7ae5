#!/usr/bin/env bash
# Checks that the shipped programs were built with the hardened flags of CMakeLists.txt (ETP2S_HARDEN):
# a position-independent executable, full RELRO (GNU_RELRO + BIND_NOW), the stack protector and, for an
# optimised build, _FORTIFY_SOURCE (the checked __*_chk libc functions). First proves the check rejects a
# program built without them.
# Usage: check_hardening.sh <C compiler> <fortify: 1|0> <program>...
set -euo pipefail
cc=$1 fortify=$2
shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prints what is missing from program $1 (nothing: hardened).
missing() {
  local b=$1 header segments dyn syms  # read whole: grep -q would cut readelf's pipe short (pipefail)
  header=$(readelf -hW "$b") segments=$(readelf -lW "$b") dyn=$(readelf -dW "$b") syms=$(readelf --dyn-syms -W "$b")
  grep -q 'Type:[[:space:]]*DYN' <<<"$header" || echo "not a position-independent executable"
  grep -q 'GNU_RELRO' <<<"$segments" || echo "no RELRO segment"
  grep -qE 'BIND_NOW|FLAGS_1.*NOW' <<<"$dyn" || echo "no BIND_NOW (RELRO only partial)"
  grep -q '__stack_chk_fail' <<<"$syms" || echo "no stack protector (__stack_chk_fail)"
  if [ "$fortify" = 1 ]; then
    grep -qE '__[a-z_]+_chk(@|$| )' <<<"$syms" || echo "no _FORTIFY_SOURCE (no __*_chk call)"
  fi
}

# The check must be able to fail: a small program that copies into a stack buffer (so the hardened flags
# would give it both a canary and a checked copy), built without any of them.
cat >"$tmp/soft.c" <<'C'
#include <stdio.h>
#include <string.h>
int main(int argc, char** argv) {
  char buf[64];
  snprintf(buf, sizeof buf, "%s", argc > 1 ? argv[1] : "x");
  char copy[64];
  memcpy(copy, buf, strlen(buf) + 1);
  puts(copy);
  return 0;
}
C
"$cc" -O2 -U_FORTIFY_SOURCE -fno-stack-protector -no-pie -fno-pie -Wl,-z,norelro -Wl,-z,lazy \
  -o "$tmp/soft" "$tmp/soft.c"
soft=$(missing "$tmp/soft")
expect=("position-independent" "RELRO segment" "BIND_NOW" "stack protector")
[ "$fortify" = 1 ] && expect+=("_FORTIFY_SOURCE")
for expected in "${expect[@]}"; do
  grep -q "$expected" <<<"$soft" || { echo "check_hardening: did not notice a program without $expected"; exit 1; }
done

status=0
for b in "$@"; do
  m=$(missing "$b")
  if [ -n "$m" ]; then
    echo "check_hardening: $b: $(tr '\n' ';' <<<"$m")"
    status=1
  fi
done
[ $status -eq 0 ] && echo "check_hardening: ok ($# programs: PIE, full RELRO, stack protector$([ "$fortify" = 1 ] && echo ', _FORTIFY_SOURCE'))"
exit $status
