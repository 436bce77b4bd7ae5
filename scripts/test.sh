#!/usr/bin/env bash
# The test command: installs what is missing, checks formatting, builds (warnings as errors), runs every test
# in a Release build, checks that a user's plain `cmake -DCMAKE_BUILD_TYPE=Release` build (no project flags)
# builds, runs every test again under AddressSanitizer + UndefinedBehaviorSanitizer, runs the concurrency tests
# under ThreadSanitizer, fuzzes the response parser for a bounded time, then builds the container images offline
# with podman and smoke-tests the compose files (scripts/container-smoke.sh, as root). Exit status 0 only if all
# of it passed. docs/testing.md describes the flavours and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/install-node-tools.sh
./scripts/check-format.sh
./scripts/build.sh release
(cd build && ctest --output-on-failure -j 2 --timeout 600)
./scripts/check-plain-build.sh
./scripts/build.sh asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest --output-on-failure -j 2 --timeout 900)
./scripts/tsan-tests.sh
./scripts/build.sh fuzz
./scripts/fuzz.sh 60
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO ./scripts/container-smoke.sh
echo "test.sh: all checks passed"
