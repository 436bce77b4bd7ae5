#!/usr/bin/env bash
# Installs exactly the Debian packages the build and the tests need, and only those that are missing.
# Idempotent: a second run installs nothing.
set -euo pipefail
PACKAGES=(
  cmake make g++ pkg-config
  libcurl4-openssl-dev libssl-dev zlib1g-dev
  nlohmann-json3-dev cppzmq-dev libzmq3-dev libhiredis-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcpp-httplib-dev
  redis-server
  clang libclang-rt-14-dev clang-format
  curl ca-certificates procps python3
  prometheus docker-compose
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
