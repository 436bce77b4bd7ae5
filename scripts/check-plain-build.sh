#!/usr/bin/env bash
# Builds the way a user does, from the README's point of view: a plain Release configure with no project
# options (so no -Werror, whatever compiler `cmake` picks), into a fresh temporary directory, then the
# shipped programs only (etp2sentinel, etp-sim, sentinel-sim) to keep the cost low. Fails if that does not build.
# Usage: check-plain-build.sh [jobs]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-$(nproc 2>/dev/null || echo 2)}
dir=$(mktemp -d "${TMPDIR:-/tmp}/etp2s-plain-build.XXXXXX")
trap 'rm -rf "$dir"' EXIT
log=$dir/build.log
if ! { cmake -S . -B "$dir/b" -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$dir/b" -j "$jobs" --target etp2sentinel etp-sim sentinel-sim; } >"$log" 2>&1; then
  tail -60 "$log"
  echo "check-plain-build: a plain 'cmake -DCMAKE_BUILD_TYPE=Release' build FAILED (log above)" >&2
  exit 1
fi
warnings=$(grep -c 'warning:' "$log" || true)
[ "$warnings" -eq 0 ] || grep 'warning:' "$log" | head -20
echo "check-plain-build: ok (plain Release build of etp2sentinel etp-sim sentinel-sim; $warnings compiler warnings)"
