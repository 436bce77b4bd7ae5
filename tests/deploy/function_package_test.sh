#!/usr/bin/env bash
# The Azure Functions package, run the way the Functions host runs it: unpack the zip built by
# scripts/package-function.sh, start its start.sh with a clean environment (FUNCTIONS_CUSTOMHANDLER_PORT, the app
# settings, the managed-identity endpoint the platform injects), POST timer invocations of `tick` as the host does,
# and require: every stand-in alert version in sentinel-sim exactly once, 200 replies in the host's JSON shape;
# then, with a wrong DCR id, a 500 reply that names the problem and carries no secret.
# Usage: function_package_test.sh <build dir> <source dir>
set -euo pipefail
bin=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; sleep 0.3; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
fail() { echo "FAIL: $*"; for f in "$work"/*.log; do echo "--- $f"; tail -15 "$f"; done; exit 1; }

ETP2S_BUILD_DIR="$bin" "$src/scripts/package-function.sh" "$work/function.zip" >/dev/null
python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for i in z.infolist():
    p = z.extract(i, sys.argv[2])
    import os; os.chmod(p, (i.external_attr >> 16) & 0o777)' "$work/function.zip" "$work/app"
[ -x "$work/app/start.sh" ] && [ -f "$work/app/tick/function.json" ] || fail "package layout"

rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" >/dev/null 2>&1 &
pids+=($!)
api_key="fn-test-key-$RANDOM$RANDOM$RANDOM"; identity_header="fn-test-identity-$RANDOM$RANDOM"
ETP_SIM_API_KEY=$api_key "$bin/sim/etp-sim" --alerts 400 --days 2 --latency-ms 0 --port-file "$work/etp.port" \
  >"$work/etp-sim.log" 2>&1 &
pids+=($!)
SENTINEL_SIM_IDENTITY_HEADER=$identity_header "$bin/sim/sentinel-sim" --port-file "$work/az.port" >"$work/az-sim.log" 2>&1 &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1 && [ -s "$work/etp.port" ] && [ -s "$work/az.port" ]; do sleep 0.05; done
etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"

# start_handler <port> <redis db> <dcr id>: the custom handler as the Functions host starts it.
start_handler() {
  env -i PATH=/usr/bin:/bin HOME="$work" FUNCTIONS_CUSTOMHANDLER_PORT="$1" \
    REDIS_URL="redis://127.0.0.1:$rport/$2" ETP_BASE_URL="$etp" ETP_API_KEY="$api_key" ETP_BACKFILL_DAYS=2 \
    ETP_RATE_LIMIT_PER_MIN=600 ETP_RATE_LIMIT_OVERRIDE=1 FETCHERS=1 SENTINEL_MODE=logs-ingestion SENTINEL_DCE_URL="$az" SENTINEL_DCR_ID="$3" \
    SENTINEL_STREAM=Custom-FireEyeETPAlerts_CL AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
    IDENTITY_ENDPOINT="$az/msi/token" IDENTITY_HEADER="$identity_header" \
    "$work/app/start.sh" >"$work/handler-$2.log" 2>&1 &
  pids+=($!)
  handler=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done
  fail "the custom handler did not listen on $1"
}
# tick <port>: one timer invocation as the Functions host sends it; prints "<status> <body>".
tick() {
  curl -s -o "$work/tick.json" -w '%{http_code}' -X POST "http://127.0.0.1:$1/tick" -H 'Content-Type: application/json' \
    -d '{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"tick","UtcNow":"2026-11-22T12:00:00Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}'
  printf ' %s' "$(cat "$work/tick.json")"
}

port=$(free_port)
start_handler "$port" 0 dcr-00112233445566778899aabbccddeeff
for _ in $(seq 240); do
  reply=$(tick "$port")
  [ "${reply%% *}" = 200 ] || fail "tick answered $reply"
  python3 - "${reply#* }" <<'PY' || fail "tick reply is not the Functions host's shape: ${reply#* }"
import json, sys
j = json.loads(sys.argv[1])
assert set(j) == {"Outputs", "Logs", "ReturnValue"} and isinstance(j["Logs"], list) and j["ReturnValue"]["pipeline"] == "running"
PY
  rc=0
  python3 - "$etp" "$az" <<'PY' || rc=$?
import json, sys, urllib.request
truth = json.load(urllib.request.urlopen(sys.argv[1] + "/sim/truth"))
rows = [r for r in json.load(urllib.request.urlopen(sys.argv[2] + "/sim/rows")) if "_Stream" not in r]  # alerts
keys = [(r["AlertId"], r["LastModifiedOn"]) for r in rows]
if len(keys) != len(set(keys)):
    print("duplicate rows"); sys.exit(2)
sys.exit(0 if len(truth) > 0 and len(rows) == len(truth) and {r["AlertId"] for r in rows} == {t["id"] for t in truth} else 1)
PY
  [ $rc -eq 0 ] && break
  [ $rc -eq 2 ] && fail "duplicates in sentinel-sim"
  sleep 0.5
done
python3 - "$etp" "$az" <<'PY' || fail "not every alert version reached sentinel-sim"
import json, sys, urllib.request
truth = json.load(urllib.request.urlopen(sys.argv[1] + "/sim/truth"))
rows = [r for r in json.load(urllib.request.urlopen(sys.argv[2] + "/sim/rows")) if "_Stream" not in r]  # alerts
assert len(rows) == len(truth), (len(rows), len(truth))
print(f"function-host: {len(rows)} alert versions delivered once each, through timer invocations of tick")
PY
grep -q "identity_endpoint" <(curl -s "$az/sim/stats") || fail "the managed-identity endpoint was not used"
kill -TERM "$handler"; wait "$handler" || true

# A wrong DCR id: Sentinel answers 404, the pipeline stops on a fatal error, and every tick fails with it.
port=$(free_port)
start_handler "$port" 1 dcr-ffffffffffffffffffffffffffffffff
for _ in $(seq 120); do
  reply=$(tick "$port")
  [ "${reply%% *}" = 500 ] && break
  sleep 0.5
done
[ "${reply%% *}" = 500 ] || fail "a fatal Sentinel error did not fail the invocation: $reply"
grep -qi "data collection rule\|DCR" <<<"$reply" || fail "the failing tick does not say what is wrong: $reply"
if grep -qF -e "$api_key" -e "$identity_header" <<<"$reply" "$work"/handler-*.log; then fail "a secret leaked"; fi
reply2=$(tick "$port")
[ "${reply2%% *}" = 500 ] || fail "the handler did not keep answering after the fatal stop: $reply2"
echo "function-host: a fatal error fails every tick: ${reply#* }"
