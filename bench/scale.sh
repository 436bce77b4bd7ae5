#!/usr/bin/env bash
# Scale: a 1,000,000-alert backfill with the stand-in's limit raised, every role a separate process over tcp.
# Reports peak RSS (VmHWM) per role and CPU seconds per 10,000 alerts.
# Usage: bench/scale.sh [ALERTS=1000000] [FETCHERS=4]
set -euo pipefail
cd "$(dirname "$0")/.."
alerts=${1:-1000000}; fetchers=${2:-4}
work=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --appendonly yes --save "" >/dev/null 2>&1 & pids+=($!)
build/sim/etp-sim --alerts "$alerts" --days 30 --rate-limit 6000000 --port-file "$work/etp.port" >/dev/null 2>&1 & pids+=($!)
build/sim/sentinel-sim --count-only 1 --port-file "$work/az.port" >/dev/null 2>&1 & pids+=($!)
for _ in $(seq 600); do [ -s "$work/etp.port" ] && [ -s "$work/az.port" ] && break; sleep 0.1; done
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"
printf 'sim-api-key-0123456789' >"$work/k"; printf 'sim-azure-client-secret' >"$work/s"
export ETP_BASE_URL=$etp ETP_API_KEY_FILE=$work/k REDIS_URL=redis://127.0.0.1:$rport/0 ETP_BACKFILL_DAYS=30 \
  ETP_RATE_LIMIT_PER_MIN=100000 ETP_RATE_LIMIT_OVERRIDE=1 FETCHERS=$fetchers \
  COORDINATOR_ENDPOINT=tcp://127.0.0.1:$(free_port) SHIPPER_ENDPOINT=tcp://127.0.0.1:$(free_port) \
  SENTINEL_DCE_URL=$az SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff AZURE_AUTHORITY_HOST=$az \
  AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
  AZURE_CLIENT_SECRET_FILE=$work/s LOG_LEVEL=warn
declare -A role_pid
build/app/etp2sentinel coordinator 2>"$work/coordinator.log" & role_pid[coordinator]=$!; pids+=($!)
build/app/etp2sentinel shipper 2>"$work/shipper.log" & role_pid[shipper]=$!; pids+=($!)
for i in $(seq "$fetchers"); do
  build/app/etp2sentinel fetcher 2>"$work/fetcher$i.log" & role_pid[fetcher$i]=$!; pids+=($!)
done
start=$(date +%s.%N)
declare -A hwm
complete() {
  build/app/etp2sentinel status 2>/dev/null | python3 -c '
import json,sys
d=json.load(sys.stdin)["partitions"]
ok = all(p["state"]=="done" for p in d if "lag_s" not in p) and all(p.get("caught_up", True) for p in d)
print("yes" if ok else "no")'
}
while true; do
  for r in "${!role_pid[@]}"; do
    v=$(awk '/VmHWM/{print $2}' /proc/${role_pid[$r]}/status 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "${hwm[$r]:-0}" ] && hwm[$r]=$v
  done
  [ "$(complete)" = yes ] && break
  sleep 1
done
end=$(date +%s.%N)
build/app/etp2sentinel status >"$work/status.json" 2>&1 || true
mkdir -p /tmp/etp2s-scale-logs && cp "$work"/*.log "$work/status.json" /tmp/etp2s-scale-logs/ 2>/dev/null || true
delivered=$(curl -s "$az/sim/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rows_accepted"])')
echo "| role | peak RSS (MB) | CPU s | CPU s per 10,000 alerts |"
echo "|---|---:|---:|---:|"
tck=$(getconf CLK_TCK)
for r in $(printf '%s\n' "${!role_pid[@]}" | sort); do
  cpu=$(awk -v t="$tck" '{print ($14+$15)/t}' /proc/${role_pid[$r]}/stat)
  python3 -c "print(f'| $r | {${hwm[$r]}/1024:.1f} | {$cpu:.1f} | {$cpu*10000/max(1,$delivered):.3f} |')"
done
python3 -c "s=$end-$start; print(f'\n{$delivered} alert versions delivered in {s:.0f} s ({$delivered/s:.0f} alerts/s); vendor had $alerts')"
