#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time (seconds, default 60) with the fixtures as seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
corpus=$(mktemp -d)
cp ../shared/fixtures/etp/*.json "$corpus"/ 2>/dev/null || true
for t in build-fuzz/fuzz/fuzz_*; do
  [ -x "$t" ] || continue
  echo "fuzz: $t for ${secs}s"
  "$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 "$corpus" 2>&1 | tail -3
done
rm -rf "$corpus"
