#!/usr/bin/env bash
# The whole message trace (ETP_TRACE=all) backfilled against etp-sim at the vendor's real limit (60 requests/min
# on the trace route, 300 records a page): MESSAGES messages without alerts (plus 30 alerted ones) over one day,
# `etp2sentinel backfill` with FETCHERS fetchers; reports the time from start to exit, trace requests, message
# versions delivered a minute and their share of the physical ceiling (300 × 60 = 18,000 a minute).
# Usage: bench/trace_backfill.sh [MESSAGES=54000] [FETCHERS=4] [LATENCY_MS=300]
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-54000}; fetchers=${2:-4}; latency=${3:-300}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" >/dev/null 2>&1 &
build/sim/etp-sim --alerts 30 --clean-messages "$messages" --days 1 --latency-ms "$latency" \
  --jitter-ms $((latency / 5)) --port-file "$work/etp.port" >/dev/null 2>&1 &
build/sim/sentinel-sim --count-only 1 --port-file "$work/az.port" >/dev/null 2>&1 &
for _ in $(seq 100); do [ -s "$work/etp.port" ] && [ -s "$work/az.port" ] && break; sleep 0.1; done
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"
printf 'sim-api-key-0123456789' >"$work/k"; printf 'sim-azure-client-secret' >"$work/s"
versions=$(curl -s "$etp/sim/truth?stream=trace-all" | json 'len(d)')
start=$(date +%s.%N)
ETP_BASE_URL=$etp ETP_API_KEY_FILE=$work/k REDIS_URL=redis://127.0.0.1:$rport/0 FETCHERS=$fetchers \
ETP_BACKFILL_DAYS=1 SENTINEL_DCE_URL=$az SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff \
AZURE_AUTHORITY_HOST=$az AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 \
AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee AZURE_CLIENT_SECRET_FILE=$work/s \
ETP_DETAILS=off ETP_TRACE=all ETP_QUARANTINE=off LOG_LEVEL=warn \
  build/app/etp2sentinel backfill >"$work/out.json" 2>"$work/run.log"
end=$(date +%s.%N)
rows=$(curl -s "$az/sim/stats" | json 'd["rows_accepted"]')
requests=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/trace"]["requests"]')
maxw=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/trace"]["max_in_60s"]')
python3 -c "
import math
elapsed = $end - $start; versions = $versions; rows = $rows
fewest = math.ceil(versions / 300)
print('| messages | fetchers | latency | backfill | trace requests (fewest) | versions/min | share of 18,000/min | busiest 60 s |')
print('|---:|---:|---:|---:|---:|---:|---:|---:|')
print(f'| {versions} | $fetchers | $latency ms | {elapsed:.0f} s | $requests ({fewest}) | {60 * versions / elapsed:.0f} | '
      f'{100 * versions / elapsed / 300:.1f} % | $maxw |')
print(f'rows accepted (all streams): {rows}')"
