#!/usr/bin/env bash
# Steady state with the lookups on, at the vendor's real limit (60 requests/min per route): after a 1-day
# backfill, etp-sim makes RATE new alerts a minute visible for MINUTES minutes; measures, from the moment each
# alert became visible at the vendor to the moment its row reached sentinel-sim: the alert row (p50/p99) and its
# details row (p50/p99), the trace row of its message, and the busiest 60 s of each route.
# Usage: bench/steady_lookups.sh [MINUTES=5] [RATE_PER_MIN=20] [LATENCY_MS=300]
# LATE_PERCENT (default 0) of the new alerts become visible 1..LATE_MAX_S (default 90) s after their
# last_modified_on (the vendor's indexing delay); ETP_API (auto|v1|v2) passes through.
# The roles run as the compose steady state runs them: a coordinator, a shipper and FETCHERS (default 1) fetcher
# processes over loopback TCP, each fetcher working FETCHER_SLOTS (default 2) leases at once.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-5}; rate=${2:-20}; latency=${3:-300}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" >/dev/null 2>&1 &
build/sim/etp-sim --alerts 30 --days 1 --latency-ms "$latency" --jitter-ms $((latency / 5)) \
  --port-file "$work/etp.port" >/dev/null 2>&1 &
build/sim/sentinel-sim --port-file "$work/az.port" >/dev/null 2>&1 &
for _ in $(seq 100); do [ -s "$work/etp.port" ] && [ -s "$work/az.port" ] && break; sleep 0.1; done
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.05; done
etp="http://127.0.0.1:$(cat "$work/etp.port")"; az="http://127.0.0.1:$(cat "$work/az.port")"
printf 'sim-api-key-0123456789' >"$work/k"; printf 'sim-azure-client-secret' >"$work/s"
export ETP_BASE_URL=$etp ETP_API_KEY_FILE=$work/k REDIS_URL=redis://127.0.0.1:$rport/0 FETCHERS=${FETCHERS:-1} \
  FETCHER_SLOTS=${FETCHER_SLOTS:-2} ETP_BACKFILL_DAYS=1 SENTINEL_DCE_URL=$az \
  SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff AZURE_AUTHORITY_HOST=$az \
  AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555 AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee \
  AZURE_CLIENT_SECRET_FILE=$work/s LOG_LEVEL=warn COORDINATOR_ENDPOINT=tcp://127.0.0.1:$(free_port) \
  SHIPPER_ENDPOINT=tcp://127.0.0.1:$(free_port)
build/app/etp2sentinel coordinator >/dev/null 2>"$work/coordinator.log" &
build/app/etp2sentinel shipper >/dev/null 2>"$work/shipper.log" &
for i in $(seq "$FETCHERS"); do build/app/etp2sentinel fetcher >/dev/null 2>"$work/fetcher-$i.log" & done
# Let the backfill finish and its 30 lookups drain, so the measurement sees steady state only.
python3 - "$etp" "$az" "$minutes" "$rate" "${LATE_PERCENT:-0}" "${LATE_MAX_S:-90}" <<'PY'
import json, sys, time, urllib.request, random
etp, az, minutes, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
late_percent, late_max = int(sys.argv[5]), int(sys.argv[6])
get = lambda u: json.load(urllib.request.urlopen(u))
post = lambda u, b: json.load(urllib.request.urlopen(urllib.request.Request(u, json.dumps(b).encode(), {"Content-Type": "application/json"})))
def parse(t):
    import datetime
    return datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
truth = {t["id"] for t in get(etp + "/sim/truth")}
deadline = time.time() + 900
while time.time() < deadline:
    rows = get(az + "/sim/rows")
    details = {r["AlertId"] for r in rows if r.get("_Stream") == "Custom-FireEyeETPAlertDetails_CL"}
    if truth <= details: break
    time.sleep(5)
print(f"backfill and its lookups drained after {int(time.time() - deadline + 900)} s", file=sys.stderr)
visible = {}
rng = random.Random(7)
end = time.time() + minutes * 60
while time.time() < end:
    late = rng.randint(1, late_max) if rng.random() * 100 < late_percent else 0
    for a in post(etp + "/sim/alerts", {"count": 1, "traffic_type": rng.choice(["inbound", "outbound"]), "late_s": late})["alerts"]:
        visible[a["id"]] = parse(a["visible_at"])
    time.sleep(60.0 / rate)
wait_until = time.time() + 180
while time.time() < wait_until:
    rows = get(az + "/sim/rows")
    got = {r["AlertId"] for r in rows if r.get("_Stream") == "Custom-FireEyeETPAlertDetails_CL"}
    if set(visible) <= got: break
    time.sleep(2)
rows = get(az + "/sim/rows")
alert_at, details_at = {}, {}
for r in rows:
    s = r.get("_Stream", "")
    if s == "": alert_at.setdefault(r["AlertId"], parse(r["_ReceivedAt"]))
    if s == "Custom-FireEyeETPAlertDetails_CL": details_at.setdefault(r["AlertId"], parse(r["_ReceivedAt"]))
def pct(v, q): v = sorted(v); return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else float("nan")
a = [alert_at[i] - t for i, t in visible.items() if i in alert_at]
d = [details_at[i] - t for i, t in visible.items() if i in details_at]
stats = get(etp + "/sim/stats")["routes"]
print(f"| {len(visible)} new alerts at {rate}/min, {late_percent} % late (up to {late_max} s) | alert row p50 {pct(a,.5):.2f} s, p99 {pct(a,.99):.2f} s "
      f"({len(a)} arrived) | details row p50 {pct(d,.5):.2f} s, p99 {pct(d,.99):.2f} s ({len(d)} arrived) | "
      f"max requests in 60 s: alerts {stats['/alerts']['max_in_60s']}, trace {stats.get('/trace', {}).get('max_in_60s', 0)} |")
PY
