#!/usr/bin/env bash
# Runs the image's "standins" entrypoint natively (CI has no Docker engine): the stand-ins and `etp2sentinel run`
# on loopback against a real redis-server, until Prometheus metrics show every stand-in alert delivered.
set -euo pipefail
bin=$1
work=$(mktemp -d)
cleanup() { kill -TERM -- -"$pgid" 2>/dev/null || true; kill "$rpid" 2>/dev/null || true; sleep 0.5; rm -rf "$work"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rport=$(free_port); mport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save "" --requirepass standin-redis-pw >/dev/null 2>&1 &
rpid=$!
trap cleanup EXIT
until redis-cli -p "$rport" -a standin-redis-pw --no-auth-warning ping >/dev/null 2>&1; do sleep 0.05; done
PATH="$bin/app:$bin/sim:$PATH" REDIS_URL="redis://:standin-redis-pw@127.0.0.1:$rport/0" METRICS_PORT=$mport \
  METRICS_ADDRESS=127.0.0.1 FETCHERS=2 STANDIN_ALERTS=600 STANDIN_LATENCY_MS=0 ETP_RATE_LIMIT_PER_MIN=600 ETP_RATE_LIMIT_OVERRIDE=1 \
  setsid "$(dirname "$0")/../../deploy/docker/standins.sh" >"$work/run.log" 2>&1 &
pgid=$!
for _ in $(seq 240); do
  delivered=$(curl -s "http://127.0.0.1:$mport/metrics" | awk '/^etp2s_shipper_rows_total\{outcome="delivered"\}/{print $2}' || true)
  if [ -n "$delivered" ] && python3 -c "import sys; sys.exit(0 if float('$delivered') >= 600 else 1)"; then
    echo "standins: $delivered rows delivered"
    if grep -q "standin-" "$work/run.log"; then echo "a stand-in secret appeared in the log"; exit 1; fi
    exit 0
  fi
  sleep 0.5
done
echo "standins: not everything was delivered (got ${delivered:-none})"; tail -20 "$work/run.log"; exit 1
