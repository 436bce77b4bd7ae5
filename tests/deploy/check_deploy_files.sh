#!/usr/bin/env bash
# Validates the operator files without a Docker engine: docker-compose config (Debian's docker-compose),
# promtool check config / rules (Debian's prometheus). Also proves the checks fail on a broken file.
set -euo pipefail
src=$1
cd "$src"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ETP2S_ENV_FILE=.env.example docker-compose --env-file .env.example -f docker-compose.yml config >"$tmp/compose.yml"
for svc in redis coordinator shipper fetcher prometheus grafana; do
  grep -q "^  $svc:" "$tmp/compose.yml" || { echo "compose: service $svc missing"; exit 1; }
done
grep -q -- "--appendonly" "$tmp/compose.yml" || { echo "compose: redis without AOF"; exit 1; }
grep -q "internal: true" "$tmp/compose.yml" || { echo "compose: Redis is not on an internal network"; exit 1; }
grep -q "ZMQ_SERVER_SECRET_KEY_FILE" "$tmp/compose.yml" || { echo "compose: roles without CURVE keys"; exit 1; }
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules/etp2sentinel.rules.yml

# The checks must be able to fail.
printf 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(etp2s_x[5m]) >\n' >"$tmp/broken.rules.yml"
if promtool check rules "$tmp/broken.rules.yml" >/dev/null 2>&1; then echo "promtool accepted a broken rule"; exit 1; fi
printf 'services:\n  x:\n    image: [not, a, string]\n' >"$tmp/broken-compose.yml"
if docker-compose -f "$tmp/broken-compose.yml" config >/dev/null 2>&1; then echo "docker-compose accepted a broken file"; exit 1; fi
echo "deploy files: ok"
