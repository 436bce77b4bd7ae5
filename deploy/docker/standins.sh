#!/bin/sh
# The compose profile "standins": etp-sim and sentinel-sim on this container's loopback, and every etp2sentinel
# role (`run`) against them, with Redis from compose. No vendor or Azure credentials needed; the stand-ins'
# expected secrets are generated here and passed as files, never on a command line.
set -eu
work=$(mktemp -d)
rand() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ETP_SIM_API_KEY="standin-$(rand)"; SENTINEL_SIM_CLIENT_SECRET="standin-$(rand)"
export ETP_SIM_API_KEY SENTINEL_SIM_CLIENT_SECRET
etp-sim --alerts "${STANDIN_ALERTS:-5000}" --days 7 --latency-ms "${STANDIN_LATENCY_MS:-500}" --port-file "$work/etp.port" &
sentinel-sim --port-file "$work/az.port" &
while [ ! -s "$work/etp.port" ] || [ ! -s "$work/az.port" ]; do sleep 0.1; done
printf '%s' "$ETP_SIM_API_KEY" >"$work/etp.key"
printf '%s' "$SENTINEL_SIM_CLIENT_SECRET" >"$work/azure.secret"
unset ETP_SIM_API_KEY SENTINEL_SIM_CLIENT_SECRET ETP_API_KEY AZURE_CLIENT_SECRET
az="http://127.0.0.1:$(cat "$work/az.port")"
export ETP_BASE_URL="http://127.0.0.1:$(cat "$work/etp.port")" ETP_API_KEY_FILE="$work/etp.key" \
  SENTINEL_MODE=logs-ingestion SENTINEL_DCE_URL="$az" SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff \
  SENTINEL_STREAM=Custom-FireEyeETPAlerts_CL AZURE_AUTHORITY_HOST="$az" \
  AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
  AZURE_CLIENT_SECRET_FILE="$work/azure.secret"
exec etp2sentinel run
