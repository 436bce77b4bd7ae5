#!/usr/bin/env bash
# The main job on its built-in default, against the local stand-ins: installs what is missing, builds, starts
# redis-server (AOF), etp-sim (7 days of synthetic alerts, 60 requests/min, 0.3 s latency) and sentinel-sim on
# free loopback ports, runs `etp2sentinel backfill`, and prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() { for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done; echo "demo: $1 never appeared" >&2; exit 1; }

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --appendonly yes --save "" --daemonize no \
  >"$work/redis.log" 2>&1 &
rand() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export ETP_SIM_API_KEY="demo-$(rand)" SENTINEL_SIM_CLIENT_SECRET="demo-$(rand)"
build/sim/etp-sim --alerts "${DEMO_ALERTS:-5000}" --days 7 --latency-ms "${DEMO_LATENCY_MS:-300}" --jitter-ms 100 \
  --port-file "$work/etp.port" >"$work/etp-sim.log" 2>&1 &
build/sim/sentinel-sim --port-file "$work/sentinel.port" >"$work/sentinel-sim.log" 2>&1 &
wait_file "$work/etp.port"
wait_file "$work/sentinel.port"
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

etp="http://127.0.0.1:$(cat "$work/etp.port")"
az="http://127.0.0.1:$(cat "$work/sentinel.port")"
printf '%s' "$ETP_SIM_API_KEY" >"$work/etp.key"
printf '%s' "$SENTINEL_SIM_CLIENT_SECRET" >"$work/azure.secret"
export ETP_BASE_URL="$etp" ETP_API_KEY_FILE="$work/etp.key" ETP_BACKFILL_DAYS=7 \
  REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  SENTINEL_DCE_URL="$az" SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff \
  AZURE_AUTHORITY_HOST="$az" AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 \
  AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee AZURE_CLIENT_SECRET_FILE="$work/azure.secret" \
  LOG_LEVEL="${LOG_LEVEL:-info}"

echo "demo: backfilling 7 days from etp-sim ($etp) into sentinel-sim ($az); progress below" >&2
start=$(date +%s)
build/app/etp2sentinel backfill
echo "demo: finished in $(( $(date +%s) - start )) s"
echo "demo: etp-sim saw:      $(curl -s "$etp/sim/stats")"
echo "demo: sentinel-sim saw: $(curl -s "$az/sim/stats" 2>/dev/null || true)"
echo "demo: alerts at the vendor: $(curl -s "$etp/sim/truth" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
build/app/etp2sentinel status | head -40
