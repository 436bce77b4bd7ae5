#!/usr/bin/env bash
# Backfill throughput against etp-sim at the vendor's real limit (60 requests/min per route):
# for each (fetchers, latency) pair, runs `etp2sentinel backfill` on a window far larger than the measurement,
# and measures requests/s at etp-sim and alerts/s delivered at sentinel-sim between t=WARMUP and t=WARMUP+SPAN.
# Paging alone (ETP_DETAILS=off ETP_TRACE=off): lookups get no budget during a backfill at the ceiling anyway.
# Usage: bench/throughput.sh [SPAN_SECONDS=120] [WARMUP_SECONDS=15] "fetchers list" "latency ms list"
set -euo pipefail
cd "$(dirname "$0")/.."
span=${1:-120}; warmup=${2:-15}; fetchers_list=${3:-"1 2 4"}; latency_list=${4:-"500 2500"}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
printf '| fetchers | vendor latency | requests/s | alerts/s | %% of ceiling (1 req/s) | max requests in any 60 s |\n'
printf '|---:|---:|---:|---:|---:|---:|\n'
for latency in $latency_list; do
  for fetchers in $fetchers_list; do
    work=$(mktemp -d)
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" >/dev/null 2>&1 &
    rpid=$!
    build/sim/etp-sim --alerts 60000 --days 7 --latency-ms "$latency" --jitter-ms $((latency / 5)) \
      --port-file "$work/etp.port" >/dev/null 2>&1 &
    epid=$!
    build/sim/sentinel-sim --count-only 1 --port-file "$work/az.port" >/dev/null 2>&1 &
    spid=$!
    for _ in $(seq 100); do [ -s "$work/etp.port" ] && [ -s "$work/az.port" ] && break; sleep 0.1; done
    until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
    etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"
    printf 'sim-api-key-0123456789' >"$work/k"; printf 'sim-azure-client-secret' >"$work/s"
    ETP_BASE_URL=$etp ETP_API_KEY_FILE=$work/k REDIS_URL=redis://127.0.0.1:$rport/0 FETCHERS=$fetchers \
    SENTINEL_DCE_URL=$az SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff AZURE_AUTHORITY_HOST=$az \
    AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
    ETP_DETAILS=off ETP_TRACE=off AZURE_CLIENT_SECRET_FILE=$work/s LOG_LEVEL=warn build/app/etp2sentinel backfill >/dev/null 2>"$work/run.log" &
    apid=$!
    sleep "$warmup"
    r0=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/alerts"]["by_status"].get("200",0)')
    a0=$(curl -s "$az/sim/stats" | json 'd["rows_accepted"]')
    sleep "$span"
    r1=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/alerts"]["by_status"].get("200",0)')
    a1=$(curl -s "$az/sim/stats" | json 'd["rows_accepted"]')
    maxw=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/alerts"]["max_in_60s"]')
    kill -TERM $apid; wait $apid 2>/dev/null || true
    kill $epid $spid $rpid; wait 2>/dev/null || true
    python3 -c "
r=($r1-$r0)/$span; a=($a1-$a0)/$span
print(f'| $fetchers | ${latency} ms | {r:.3f} | {a:.1f} | {100*r:.1f} % | $maxw |')"
    rm -rf "$work"
  done
done
