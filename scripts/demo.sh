#!/usr/bin/env bash
# The main job on its built-in default, against the local stand-ins: installs what is missing, builds,
# starts etp-sim (7 days of synthetic alerts) and runs etp2sentinel against it, then prints what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh release
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

ETP_SIM_API_KEY="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export ETP_SIM_API_KEY
build/sim/etp-sim --alerts "${DEMO_ALERTS:-2000}" --days 7 --rate-limit 600 --port-file "$work/etp.port" \
  >"$work/etp-sim.log" 2>&1 &
for _ in $(seq 100); do [ -s "$work/etp.port" ] && break; sleep 0.1; done
export ETP_BASE_URL="http://127.0.0.1:$(cat "$work/etp.port")"
printf '%s' "$ETP_SIM_API_KEY" >"$work/etp.key"
export ETP_API_KEY_FILE="$work/etp.key"
export ETP_RATE_LIMIT_PER_MIN=600   # the stand-in's limit, raised for a quick demo
export ETP_BACKFILL_DAYS=7

echo "demo: paging 7 days of alerts from etp-sim at $ETP_BASE_URL"
build/app/etp2sentinel fetch >"$work/alerts.jsonl"
echo "demo: alert versions fetched: $(wc -l <"$work/alerts.jsonl")"
echo "demo: distinct alert ids:     $(sed 's/.*"id":"\([^"]*\)".*/\1/' "$work/alerts.jsonl" | sort -u | wc -l)"
echo "demo: what etp-sim saw:        $(curl -s "$ETP_BASE_URL/sim/stats")"
