#!/usr/bin/env bash
# A whole backfill against etp-sim at the vendor's real limit (60 requests/min per route), timed from its start to
# its exit (the last accepted upload comes just before), against the ideal: the fewest full pages the data needs
# (per traffic type: ceil(versions / 200)) at one request a second. Prints one table row per run.
# ratio = ideal / measured; wasted pages = requests made beyond the fewest possible (and beyond the requests that
# failed: none here).
# LOG_LEVEL (default warn) is the backfill's; KEEP_LOG=PREFIX keeps its log as PREFIX.<api>.<shape>.<fetchers>.<latency>.log
# Usage: bench/backfill_ratio.sh ALERTS "fetchers list" "latency ms list" [shape: uniform|skewed] [api: v1|v2|auto]
#   skewed: 80 % of the alerts in one 3-hour campaign (etp-sim --campaign-percent 80 --campaign-hours 3)
set -euo pipefail
cd "$(dirname "$0")/.."
alerts=${1:-36000}; fetchers_list=${2:-"4"}; latency_list=${3:-"2500"}; shape=${4:-uniform}; api=${5:-auto}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
sim_shape=()
[ "$shape" = skewed ] && sim_shape=(--campaign-percent 80 --campaign-hours 3)
printf '| api | shape | alerts | fetchers | vendor latency | ideal s | measured s | ratio | requests | wasted pages | max requests in any 60 s |\n'
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
for latency in $latency_list; do
  for fetchers in $fetchers_list; do
    work=$(mktemp -d)
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" >/dev/null 2>&1 &
    rpid=$!
    build/sim/etp-sim --alerts "$alerts" --days 7 --late-percent 0 --latency-ms "$latency" \
      --jitter-ms $((latency / 5)) "${sim_shape[@]}" --port-file "$work/etp.port" >/dev/null 2>&1 &
    epid=$!
    build/sim/sentinel-sim --count-only 1 --port-file "$work/az.port" >/dev/null 2>&1 &
    spid=$!
    for _ in $(seq 300); do [ -s "$work/etp.port" ] && [ -s "$work/az.port" ] && break; sleep 0.1; done
    until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
    etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"
    if [ "$api" = v2 ]; then
      ideal=$(curl -s "$etp/sim/truth?stream=v2" | json 'sum(-(-sum(1 for t in d if t["traffic_type"]==x)//200) for x in ("inbound","outbound"))')
    else
      ideal=$(curl -s "$etp/sim/truth" | json 'sum(-(-sum(1 for t in d if t["traffic_type"]==x)//200) for x in ("inbound","outbound"))')
    fi
    printf 'sim-api-key-0123456789' >"$work/k"; printf 'sim-azure-client-secret' >"$work/s"
    start=$(date +%s.%N)
    ETP_BASE_URL=$etp ETP_API_KEY_FILE=$work/k REDIS_URL=redis://127.0.0.1:$rport/0 FETCHERS=$fetchers \
    SENTINEL_DCE_URL=$az SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff AZURE_AUTHORITY_HOST=$az \
    AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
    ETP_API=$api ETP_DETAILS=off ETP_TRACE=off ETP_QUARANTINE=off AZURE_CLIENT_SECRET_FILE=$work/s LOG_LEVEL=${LOG_LEVEL:-warn} \
      build/app/etp2sentinel backfill >/dev/null 2>"$work/run.log" || { echo "backfill failed:"; tail -5 "$work/run.log"; }
    end=$(date +%s.%N)
    requests=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/alerts"]["requests"]')
    maxw=$(curl -s "$etp/sim/stats" | json 'd["routes"]["/alerts"]["max_in_60s"]')
    kill $epid $spid $rpid; wait 2>/dev/null || true
    python3 -c "
m=$end-$start; i=$ideal
print(f'| $api | $shape | $alerts | $fetchers | ${latency} ms | {i} | {m:.0f} | {i/m:.3f} | $requests | {$requests-i} | $maxw |')"
    [ -n "${KEEP_LOG:-}" ] && cp "$work/run.log" "$KEEP_LOG.$api.$shape.$fetchers.$latency.log"
    rm -rf "$work"
  done
done
