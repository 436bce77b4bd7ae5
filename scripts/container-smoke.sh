#!/usr/bin/env bash
# The container path, built and run: builds the images with Debian's podman without any registry, then runs
# docker-compose (Debian's) against them and checks that every stand-in alert reaches the Sentinel stand-in
# exactly once. docs/containers.md describes it and its measured times.
#   1. installs what is missing (apt: podman runc mmdebstrap docker-compose curl);
#   2. writes a private containers.conf (runc, cgroupfs, file events; a user's own config is left alone);
#   3. makes debian:bookworm(-slim) from Debian's mirror with mmdebstrap if podman has neither (no Docker Hub),
#      and a Redis image from Debian's redis-server for the compose redis services;
#   4. builds the production and trials images from deploy/docker/Dockerfile (each build timed, sizes printed);
#   5. run 1: the compose stand-ins profile as users start it (`standins`: the stand-ins and `etp2sentinel run`
#      with 4 fetchers in one container, its own Redis) until the backfill is complete and every alert arrived
#      exactly once;
#   6. run 2: the roles as compose runs them (redis with its password, coordinator, shipper, fetchers from the
#      production image, CURVE keys, secrets) against the stand-ins, `--scale fetcher=4`, then mid-backfill
#      `up -d --scale fetcher=1`: the backfill still completes, nothing lost, nothing twice.
# Idempotent; cleans up (compose down, its podman service) on any exit. Exit status 0 only if all passed.
# Settings: SMOKE_ALERTS (3000), SMOKE_DIR (/var/tmp/etp2s-container-smoke: base tarball, containers.conf,
# the compose project), SMOKE_TIMEOUT_S (per run, 600).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=${SMOKE_DIR:-/var/tmp/etp2s-container-smoke}
alerts=${SMOKE_ALERTS:-3000}
timeout_s=${SMOKE_TIMEOUT_S:-600}
project=etp2s-smoke
proj=$state/project
redis_image=localhost/etp2s-smoke-redis:7
t0=$(date +%s)
say() { echo "container-smoke: $*"; }
fail() { # also from a subshell: the message is repeated after the logs the cleanup prints
  echo "container-smoke: FAILED: $*" >&2
  echo "$*" >>"$state/failure" 2>/dev/null || true
  exit 1
}
now() { date +%s; }

[ "$(id -u)" -eq 0 ] || fail "run as root (rootful podman: the compose networks and nsenter need it)"

# 1. What it needs, from Debian's packages (the recommends bring aardvark-dns: names between containers).
need=()
install_s=0
for p in podman runc mmdebstrap docker-compose curl python3-yaml util-linux; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    fail "apt-get install ${need[*]} failed"
  install_s=$(($(now) - t0))
  say "installed in ${install_s}s"
fi

# 2. podman's settings, in a file of our own unless the caller names one: runc (crun refuses a hybrid cgroup
# tree), cgroupfs (no systemd in a CI container), events to a file (no journald), limits high enough for a build.
mkdir -p "$state"
chmod 700 "$state"  # the trial's secrets (random, used by the smoke test only) live here while it runs
rm -f "$state/failure"
if [ -z "${CONTAINERS_CONF:-}" ]; then
  export CONTAINERS_CONF=$state/containers.conf
  cat >"$CONTAINERS_CONF.new" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  mv "$CONTAINERS_CONF.new" "$CONTAINERS_CONF"
fi
[ -f "$CONTAINERS_CONF" ] || fail "CONTAINERS_CONF names $CONTAINERS_CONF, which does not exist"

sock=$state/podman.sock
svc_pid=""
compose_files=()
dc() { DOCKER_HOST=unix://$sock COMPOSE_HTTP_TIMEOUT=300 docker-compose -p "$project" "${compose_files[@]}" "$@"; }
# Run 2's roles share the stand-ins container's network namespace: podman removes that container only after
# them, and compose v1 removes in parallel, so the roles go first.
down_run2() {
  dc stop -t 3 coordinator shipper fetcher && dc rm -f coordinator shipper fetcher && dc down -v -t 3 --remove-orphans
}
teardown() {
  compose_files=(--project-directory "$proj" -f "$proj/run2.json")
  down_run2 >/dev/null 2>&1 || true
  compose_files=(--project-directory "$proj" -f "$root/docker-compose.yml")
  dc --profile standins down -v -t 3 --remove-orphans >/dev/null 2>&1 || true
}
exec 8>&1 9>&2  # the script's own output: a trap can run while a command's redirections are still in effect
cleanup() {
  local rc=$?
  set +e
  exec 1>&8 2>&9
  if [ -n "$svc_pid" ]; then
    if [ $rc -ne 0 ] && [ ${#compose_files[@]} -gt 0 ]; then
      echo "--- the last 30 lines of each service's log ---" >&2
      dc logs --no-color --tail=30 >&2 2>&1
    fi
    [ -f "$proj/run2.json" ] && teardown
    kill "$svc_pid" 2>/dev/null
    wait "$svc_pid" 2>/dev/null
  fi
  [ $rc -eq 0 ] && rm -rf "$proj"
  if [ $rc -ne 0 ]; then
    echo "container-smoke: FAILED (exit $rc): $(cat "$state/failure" 2>/dev/null || echo "interrupted or a command failed, see above")" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 3. Base images, without a registry: Debian's minbase from its mirror, made like the official slim image
# (merged /usr without usrmerge and perl, no docs, man pages or locales; apt keeps no package caches), imported
# under the names the Dockerfile's FROM lines resolve to. One root file system serves both names.
base_s=0
if ! podman image exists docker.io/library/debian:bookworm-slim || ! podman image exists docker.io/library/debian:bookworm; then
  say "making debian:bookworm and debian:bookworm-slim with mmdebstrap"
  s=$(now)
  cat >"$state/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
EOF
  rm -f "$state/bookworm.tar"
  mmdebstrap --quiet --variant=minbase --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook="cp '$state/docker-clean' \"\$1/etc/apt/apt.conf.d/docker-clean\"; rm -f \"\$1\"/var/cache/apt/*.bin" \
    bookworm "$state/bookworm.tar" http://deb.debian.org/debian >"$state/mmdebstrap.log" 2>&1 ||
    fail "mmdebstrap failed ($state/mmdebstrap.log)"
  {
    podman import --quiet --change 'CMD ["bash"]' "$state/bookworm.tar" docker.io/library/debian:bookworm-slim >/dev/null &&
      podman tag docker.io/library/debian:bookworm-slim docker.io/library/debian:bookworm
  } || fail "podman could not import the base image"
  rm -f "$state/bookworm.tar"
  base_s=$(($(now) - s))
  say "base images made in ${base_s}s"
fi

# 4. The images. --format docker keeps the HEALTHCHECK (OCI images have none); --pull=never: no registry.
size_of() { podman image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'; }
build() { # name target tag
  local s
  s=$(now)
  podman build --pull=never --format docker -f deploy/docker/Dockerfile --target "$2" -t "$3" . \
    >"$state/build-$1.log" 2>&1 || {
    tail -30 "$state/build-$1.log" >&2
    fail "building the $1 image failed ($state/build-$1.log)"
  }
  echo $(($(now) - s))
}
cd "$root"
say "building etp2sentinel:latest (production)"
prod_s=$(build production production etp2sentinel:latest)
say "production built in ${prod_s}s, $(size_of etp2sentinel:latest)"
say "building etp2sentinel:trials"
trials_s=$(build trials trials etp2sentinel:trials)
say "trials built in ${trials_s}s, $(size_of etp2sentinel:trials)"
[ "$(podman image inspect --format '{{.Config.User}}' etp2sentinel:latest)" = etp2s ] ||
  fail "the production image does not run as etp2s"
podman image inspect --format '{{json .Config.Healthcheck}}' etp2sentinel:latest | grep -q '"status"' ||
  fail "the production image has no HEALTHCHECK running etp2sentinel status"
if podman run --rm --pull=never --no-healthcheck --entrypoint sh etp2sentinel:latest -c 'command -v etp-sim sentinel-sim' >/dev/null; then
  fail "the production image carries the stand-ins"
fi

# The compose redis services' image: the official one is on Docker Hub, so a stand-in from Debian's
# redis-server with the official entrypoint's behaviour (drop to the redis user; protected mode off, as the
# official image builds it, so the other containers may connect). No VOLUME: the redis service mounts its named
# volume, and an anonymous one for standins-redis would outlive `down -v` under podman.
mkdir -p "$state/redis"
cat >"$state/redis/Dockerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* && mkdir /data && chown redis:redis /data
COPY docker-entrypoint.sh /usr/local/bin/
WORKDIR /data
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
EOF
cat >"$state/redis/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  set -- "$@" --protected-mode no
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis '{}' +
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
EOF
chmod 755 "$state/redis/docker-entrypoint.sh"
s=$(now)
podman build --pull=never --format docker -t "$redis_image" "$state/redis" >"$state/build-redis.log" 2>&1 ||
  fail "building the Redis stand-in image failed ($state/build-redis.log)"
redis_s=$(($(now) - s))

# 5./6. Compose, through podman's Docker API on a socket of our own.
rm -f "$sock"
podman system service --time=0 "unix://$sock" >"$state/podman-service.log" 2>&1 &
svc_pid=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$sock" http://d/_ping >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --unix-socket "$sock" http://d/_ping >/dev/null || fail "podman's API service did not start"

# The project's directory: secrets, .env and the compose files of the two runs; never the repository's
# ./secrets or .env.
rm -rf "$proj"
mkdir -p "$proj/secrets"
rand() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
printf 'smoke-%s' "$(rand)" >"$proj/secrets/etp_api_key"
printf 'smoke-%s' "$(rand)" >"$proj/secrets/azure_client_secret"
printf '%s' "$(rand)" >"$proj/secrets/redis_password"
keys() { podman run --rm --pull=never --no-healthcheck etp2sentinel:latest keygen; }
server=$(keys) client=$(keys)
awk '$1 == "secret" {print $2}' <<<"$server" >"$proj/secrets/zmq_server.secret"
awk '$1 == "secret" {print $2}' <<<"$client" >"$proj/secrets/zmq_client.secret"
chmod 644 "$proj"/secrets/*  # read by the roles' unprivileged user through compose's bind mounts
# The stand-ins' identities (deploy/docker/standins.sh), a rate the stand-in allows, 50 alerts a page so that the
# backfill takes long enough to be scaled down in its middle. Only the alerts: the lookups and the quarantine
# sweep (per-alert requests against the same budget) are covered by the native tests.
{
  sed -e '/^ETP_BASE_URL=/d' -e '/^ETP_PAGE_SIZE=/d' -e '/^SENTINEL_DCE_URL=/d' -e '/^SENTINEL_DCR_ID=/d' \
    -e '/^AZURE_TENANT_ID=/d' -e '/^AZURE_CLIENT_ID=/d' -e '/^ZMQ_.*_PUBLIC_KEY=/d' .env.example
  echo "ETP_BASE_URL=http://127.0.0.1:18080"
  echo "ETP_PAGE_SIZE=50"
  echo "ETP_DETAILS=off"
  echo "ETP_TRACE=off"
  echo "ETP_QUARANTINE=off"
  echo "SENTINEL_DCE_URL=http://127.0.0.1:18081"
  echo "AZURE_AUTHORITY_HOST=http://127.0.0.1:18081"
  echo "SENTINEL_DCR_ID=dcr-00112233445566778899aabbccddeeff"
  echo "AZURE_TENANT_ID=11111111-2222-3333-4444-555555555555"
  echo "AZURE_CLIENT_ID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
  echo "ZMQ_SERVER_PUBLIC_KEY=$(awk '$1 == "public" {print $2}' <<<"$server")"
  echo "ZMQ_CLIENT_PUBLIC_KEY=$(awk '$1 == "public" {print $2}' <<<"$client")"
} >"$proj/.env"

# Run 1: an override (images and the trial's size only). Run 2: docker-compose.yml with the roles moved into
# the stand-ins container's network namespace — etp2sentinel speaks plain http only to loopback, and an
# override cannot drop a service's networks — and the stand-ins' programs alone in that container.
python3 - "$root/docker-compose.yml" "$proj" "$redis_image" "$alerts" <<'PY'
import copy, json, sys, yaml
src, proj, redis_image, alerts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
run1 = {"version": "3.8", "services": {
    "standins-redis": {"image": redis_image},
    "standins": {"environment": {"STANDIN_ALERTS": alerts, "STANDIN_LATENCY_MS": "0", "ETP_DETAILS": "off",
                                 "ETP_TRACE": "off", "ETP_QUARANTINE": "off"}}}}
json.dump(run1, open(proj + "/run1.json", "w"), indent=1)

c = yaml.safe_load(open(src))
c.pop("x-role", None)
svc = c["services"] = copy.deepcopy(c["services"])  # merged keys share their values with the anchor's
for name in ("prometheus", "grafana", "standins-redis"):
    del svc[name]
svc["redis"]["image"] = redis_image
metrics = {"coordinator": "9464", "shipper": "9465", "fetcher": "0"}  # one network namespace: one port each
for name in ("coordinator", "shipper", "fetcher"):
    s = svc[name]
    s.pop("build", None)
    del s["networks"]
    s["network_mode"] = "service:standins"
    env = s["environment"]
    env["METRICS_PORT"] = metrics[name]
    if name == "fetcher":
        env["COORDINATOR_ENDPOINT"] = "tcp://127.0.0.1:5555"
        env["SHIPPER_ENDPOINT"] = "tcp://127.0.0.1:5556"
st = svc["standins"]
for k in ("build", "profiles", "depends_on", "environment"):
    st.pop(k, None)
st["networks"] = ["standins", "default", "state"]
st["secrets"] = ["etp_api_key", "azure_client_secret"]
# The stand-ins expect the keys the roles are given (as files, never on a command line); fixed ports.
st["entrypoint"] = ["sh", "-c",
    "ETP_SIM_API_KEY=$$(cat /run/secrets/etp_api_key) etp-sim --alerts " + alerts + " --days 7 --port 18080 & e=$$!; "
    "SENTINEL_SIM_CLIENT_SECRET=$$(cat /run/secrets/azure_client_secret) sentinel-sim --port 18081 & a=$$!; "
    "trap 'kill $$e $$a; exit 0' TERM INT; wait"]
json.dump(c, open(proj + "/run2.json", "w"), indent=1)
PY

# What the stand-ins saw, read inside the stand-ins container's network namespace (their ports are on its
# loopback): exit 0 when every alert version the ETP stand-in serves arrived exactly once, 1 not yet,
# 2 duplicates. Prints "truth rows duplicates".
check_rows() { # container etp-port az-port
  local pid
  pid=$(podman inspect --format '{{.State.Pid}}' "$1")
  nsenter -t "$pid" -n python3 - "$2" "$3" <<'PY'
import json, sys, urllib.request
get = lambda port, path: json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30))
truth = {(t["id"], t["last_modified_on"]) for t in get(sys.argv[1], "/sim/truth")}
rows = [(r["AlertId"], r["LastModifiedOn"]) for r in get(sys.argv[2], "/sim/rows") if "_Stream" not in r]
dups = len(rows) - len(set(rows))
print(len(truth), len(rows), dups)
sys.exit(2 if dups else 0 if truth and {a for a, _ in truth} == {a for a, _ in rows} and len(rows) == len(truth) else 1)
PY
}
# `etp2sentinel status --json` in a container: "done total delivered live gaps dead_letters fatal holders"
# (holders: how many processes, host:pid, hold a lease).
status_of() { # service
  dc exec -T "$1" etp2sentinel status --json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
parts = [p for p in s["partitions"] if "lag_s" not in p]  # the backfill, not the live heads
print(sum(p["state"] == "done" for p in parts), len(parts), sum(p["delivered"] for p in s["partitions"]),
      len(s["partitions"]) - len(parts), s["gaps"].get("entries", 0), s["dead_letters"].get("entries", 0),
      "none" if s["fatal"] is None else s["fatal"]["code"],
      len({":".join(p["owner"].split(":")[:2]) for p in s["partitions"] if p["owner"]}))' || echo "- - - - - - unreadable -"
}
# Waits until the backfill is complete and every alert arrived exactly once; prints the seconds it took.
wait_complete() { # label service container etp-port az-port start
  local st rows rc
  while :; do
    st=$(status_of "$2")
    rc=0
    rows=$(check_rows "$3" "$4" "$5") || rc=$?
    [ $rc -eq 2 ] && fail "$1: an alert arrived twice (truth rows duplicates: $rows)"
    read -r ndone total _ _ gaps dead fatal _ <<<"$st"
    [ "$fatal" = none ] || [ "$fatal" = unreadable ] || fail "$1: fatal error recorded: $fatal"
    if [ $rc -eq 0 ] && [ "$ndone" = "$total" ] && [ "$total" != - ] && [ "$total" -gt 0 ]; then
      if [ "$gaps" != 0 ] || [ "$dead" != 0 ]; then fail "$1: gaps ($gaps) or dead letters ($dead) recorded"; fi
      echo $(($(now) - $6))
      return 0
    fi
    [ $(($(now) - $6)) -lt "$timeout_s" ] || fail "$1: not complete after ${timeout_s}s (status: $st; truth rows dups: $rows)"
    sleep 2
  done
}
cid() { dc ps -q "$1" | head -1; }

# Run 1: the stand-ins profile.
teardown  # what a run killed before its cleanup left behind
compose_files=(--project-directory "$proj" -f "$root/docker-compose.yml" -f "$proj/run1.json")
say "run 1: compose --profile standins up standins ($alerts alerts, FETCHERS=4 in one container)"
s=$(now)
dc --profile standins up -d --no-build standins >"$state/run1-up.log" 2>&1 || {
  cat "$state/run1-up.log" >&2
  fail "run 1: compose up failed"
}
c1=$(cid standins)
ports=""
for _ in $(seq 100); do
  ports=$(podman exec "$c1" sh -c 'cat /tmp/tmp.*/etp.port /tmp/tmp.*/az.port' 2>/dev/null | tr '\n' ' ') || true
  [ "$(wc -w <<<"$ports")" = 2 ] && break
  sleep 0.2
done
[ "$(wc -w <<<"$ports")" = 2 ] || fail "run 1: the stand-ins never wrote their ports"
read -r etp_port az_port <<<"$ports"
run1_s=$(wait_complete "run 1" standins "$c1" "$etp_port" "$az_port" "$s")
say "run 1: backfill complete, every alert once ($(check_rows "$c1" "$etp_port" "$az_port" | awk '{print $2}') rows) in ${run1_s}s"
dc --profile standins down -v -t 3 >"$state/run1-down.log" 2>&1 || {
  cat "$state/run1-down.log" >&2
  fail "run 1: compose down failed"
}

# Run 2: the roles, 4 fetchers, then 1 in the middle of the backfill.
compose_files=(--project-directory "$proj" -f "$proj/run2.json")
say "run 2: compose up --scale fetcher=4 (redis, coordinator, shipper, fetchers, stand-ins; $alerts alerts)"
s=$(now)
dc up -d --no-build --scale fetcher=4 >"$state/run2-up.log" 2>&1 || {
  cat "$state/run2-up.log" >&2
  fail "run 2: compose up failed"
}
c2=$(cid standins)
[ "$(dc ps -q fetcher | wc -l)" = 4 ] || fail "run 2: not 4 fetchers running"
# Mid-backfill: a fifth of the alerts delivered, the backfill not done.
while :; do
  read -r ndone total delivered _ _ _ fatal holders <<<"$(status_of coordinator)"
  [ "$fatal" = none ] || [ "$fatal" = unreadable ] || fail "run 2: fatal error recorded: $fatal"
  if [ "$delivered" != - ] && [ "$delivered" -ge $((alerts / 5)) ]; then
    [ "$ndone" != "$total" ] || fail "run 2: the backfill ended before the scale-down could happen (raise SMOKE_ALERTS)"
    break
  fi
  [ $(($(now) - s)) -lt "$timeout_s" ] || fail "run 2: nothing delivered after ${timeout_s}s"
  sleep 1
done
say "run 2: $delivered delivered, $ndone of $total partitions done, leases held by $holders processes:" \
  "up -d --scale fetcher=1"
dc exec -T coordinator etp2sentinel status --json >"$state/run2-status-at-scale.json" 2>&1 || true
dc up -d --no-build --scale fetcher=1 >"$state/run2-scale.log" 2>&1 || {
  cat "$state/run2-scale.log" >&2
  fail "run 2: scaling down failed"
}
[ "$(dc ps -q fetcher | wc -l)" = 1 ] || fail "run 2: not 1 fetcher after scaling down"
run2_s=$(wait_complete "run 2" coordinator "$c2" 18080 18081 "$s")
say "run 2: backfill complete with 1 fetcher, every alert once ($(check_rows "$c2" 18080 18081 | awk '{print $2}') rows) in ${run2_s}s"
# Every service still up, and its compose healthcheck passing (podman schedules healthchecks with systemd
# timers, which a machine without systemd lacks: each is run once here).
for svc in redis coordinator shipper fetcher; do
  c=$(cid "$svc")
  [ "$(podman inspect --format '{{.State.Status}}' "$c")" = running ] || fail "run 2: $svc is not running"
  podman healthcheck run "$c" >/dev/null 2>&1 || fail "run 2: the healthcheck of $svc fails"
done
down_run2 >"$state/run2-down.log" 2>&1 || {
  cat "$state/run2-down.log" >&2
  fail "run 2: compose down failed"
}

say "PASSED in $(($(now) - t0))s ($([ "$install_s" -gt 0 ] && echo "packages installed in ${install_s}s" || echo "packages present")): production $(size_of etp2sentinel:latest) built in ${prod_s}s," \
  "trials $(size_of etp2sentinel:trials) built in ${trials_s}s, redis stand-in $(size_of "$redis_image") in ${redis_s}s," \
  "base images $([ "$base_s" -gt 0 ] && echo "made in ${base_s}s" || echo present);" \
  "run 1 (standins profile) ${run1_s}s, run 2 (fetcher 4 -> 1) ${run2_s}s, $alerts alerts each"
