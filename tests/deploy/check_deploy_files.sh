#!/usr/bin/env bash
# Validates the operator files without a Docker engine: docker-compose config (Debian's docker-compose),
# promtool check config / rules (Debian's prometheus), the image files (check_image_files.py). Also proves the
# checks fail on a broken file. Usage: check_deploy_files.sh <source dir> [<build dir>]
set -euo pipefail
src=$1
build=${2:-}  # optional: a build directory, for the image checks that look at the built programs
cd "$src"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ETP2S_ENV_FILE=.env.example docker-compose --env-file .env.example -f docker-compose.yml config >"$tmp/compose.yml"
for svc in redis coordinator shipper fetcher prometheus grafana standins standins-redis; do
  grep -q "^  $svc:" "$tmp/compose.yml" || { echo "compose: service $svc missing"; exit 1; }
done
grep -q -- "--appendonly" "$tmp/compose.yml" || { echo "compose: redis without AOF"; exit 1; }
grep -q "internal: true" "$tmp/compose.yml" || { echo "compose: Redis is not on an internal network"; exit 1; }
grep -q "ZMQ_SERVER_SECRET_KEY_FILE" "$tmp/compose.yml" || { echo "compose: roles without CURVE keys"; exit 1; }
# The Redis password: from a secret file, never interpolated into the file, on a command line or in `-a`.
if grep -nE '\$\{?REDIS_PASSWORD|requirepass"|--requirepass|redis-cli -a' docker-compose.yml; then
  echo "compose: the Redis password is passed on a command line or through a variable"; exit 1
fi
if grep -q '^REDIS_PASSWORD=' .env.example; then echo ".env.example still asks for REDIS_PASSWORD"; exit 1; fi
python3 - "$tmp/compose.yml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
svc = c["services"]
for role in ("coordinator", "shipper", "fetcher"):
    env = svc[role]["environment"]
    assert env.get("REDIS_PASSWORD_FILE") == "/run/secrets/redis_password", role + ": no REDIS_PASSWORD_FILE"
    assert "@" not in env["REDIS_URL"], role + ": a password in REDIS_URL"
    assert "redis_password" in [s["source"] for s in svc[role]["secrets"]], role + ": no redis_password secret"
assert "redis_password" in [s["source"] for s in svc["redis"]["secrets"]], "redis: no redis_password secret"
# Every service running our code or a Redis has a bounded process table (no fork bomb reaches the host).
for name in ("redis", "coordinator", "shipper", "fetcher", "standins", "standins-redis"):
    n = svc[name].get("pids_limit")
    assert isinstance(n, int) and 0 < n <= 1024, name + ": no pids_limit (or not 1..1024): " + repr(n)
# The stand-ins: their own Redis on their own network, no password, never the production one.
st = svc["standins"]
assert "redis" not in st.get("depends_on", {}), "standins: depends on the production redis"
assert "state" not in st["networks"], "standins: on the production Redis network"
assert st["environment"]["REDIS_URL"].startswith("redis://standins-redis:"), "standins: not its own Redis"
assert "standins-redis" in svc and "state" not in svc["standins-redis"]["networks"], "standins-redis"
assert c["networks"]["standins"].get("internal") is True, "the stand-ins' Redis network is not internal"
PY
# ... and the redis service's own command does what it says: run here (a stand-in docker-entrypoint.sh adds
# a free loopback port), it refuses a client without the password, accepts one with it (the healthcheck's
# way), and the password is on no command line.
if command -v redis-server >/dev/null; then
  mkdir -p "$tmp/bin" "$tmp/redis"
  printf 'pw%s%s%s' "$RANDOM" "$RANDOM" "$RANDOM" >"$tmp/redis_password"
  rport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  printf '#!/bin/sh\nshift\nexec redis-server "$@" --port %s --bind 127.0.0.1 --dir %s --appendonly no\n' \
    "$rport" "$tmp/redis" >"$tmp/bin/docker-entrypoint.sh"
  chmod +x "$tmp/bin/docker-entrypoint.sh"
  python3 - "$tmp/compose.yml" "$tmp/redis_password" "$tmp/redis-cmd" "$tmp/redis-health" <<'PY'
import sys, yaml
redis = yaml.safe_load(open(sys.argv[1]))["services"]["redis"]
local = lambda s: s.replace("$$", "$").replace("/run/secrets/redis_password", sys.argv[2])
assert redis["command"][:2] == ["sh", "-c"], redis["command"]
open(sys.argv[3], "w").write(local(redis["command"][2]))
assert redis["healthcheck"]["test"][0] == "CMD-SHELL"
open(sys.argv[4], "w").write(local(redis["healthcheck"]["test"][1]))
PY
  PATH="$tmp/bin:$PATH" sh -c "$(cat "$tmp/redis-cmd")" >"$tmp/redis.log" 2>&1 &
  rpid=$!
  for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.05; done
  ok=1
  redis-cli -p "$rport" ping 2>&1 | grep -q NOAUTH || { echo "compose redis: answers without the password"; ok=0; }
  (cd "$tmp" && PATH="$tmp/bin:$PATH" sh -c "$(sed "s/redis-cli /redis-cli -p $rport /" "$tmp/redis-health")") >/dev/null ||
    { echo "compose redis: the healthcheck fails with the password"; ok=0; }
  if tr '\0' ' ' <"/proc/$rpid/cmdline" | grep -qF "$(cat "$tmp/redis_password")"; then
    echo "compose redis: the password is on its command line"; ok=0
  fi
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
  [ $ok = 1 ] || { cat "$tmp/redis.log"; exit 1; }
fi
# The images: Dockerfile stages, layers, packages, stripping, healthcheck; .dockerignore; the compose targets.
python3 "$src/tests/deploy/check_image_files.py" "$src" "$tmp/compose.yml" $build
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules/etp2sentinel.rules.yml

# The checks must be able to fail.
printf 'groups:\n  - name: x\n    rules:\n      - alert: Broken\n        expr: sum(rate(etp2s_x[5m]) >\n' >"$tmp/broken.rules.yml"
if promtool check rules "$tmp/broken.rules.yml" >/dev/null 2>&1; then echo "promtool accepted a broken rule"; exit 1; fi
printf 'services:\n  x:\n    image: [not, a, string]\n' >"$tmp/broken-compose.yml"
if docker-compose -f "$tmp/broken-compose.yml" config >/dev/null 2>&1; then echo "docker-compose accepted a broken file"; exit 1; fi
echo "deploy files: ok"
