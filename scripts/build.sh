#!/usr/bin/env bash
# Configures and builds one flavour: build.sh [release|asan|tsan|fuzz]. Used by CI, the demo and the Dockerfile.
# Every flavour treats warnings as errors (ETP2S_WERROR=ON); a user's plain cmake build does not
# (scripts/check-plain-build.sh checks that one).
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=$(nproc 2>/dev/null || echo 2)
case "$flavour" in
  release) dir=build; args=(-DCMAKE_BUILD_TYPE=Release) ;;
  asan) dir=build-asan; args=(-DCMAKE_BUILD_TYPE=Debug -DETP2S_SANITIZE=ON -DETP2S_BENCH=OFF) ;;
  tsan) dir=build-tsan; args=(-DCMAKE_BUILD_TYPE=Debug -DETP2S_TSAN=ON -DETP2S_BENCH=OFF) ;;
  fuzz) dir=build-fuzz; args=(-DCMAKE_BUILD_TYPE=Debug -DETP2S_FUZZ=ON -DETP2S_BENCH=OFF
                              -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++) ;;
  *) echo "usage: build.sh [release|asan|tsan|fuzz]" >&2; exit 2 ;;
esac
args+=(-DETP2S_WERROR=ON)
cmake -S . -B "$dir" "${args[@]}" >/dev/null
if [ "$flavour" = fuzz ]; then
  cmake --build "$dir" -j "$jobs" --target fuzz_parse_summary
else
  cmake --build "$dir" -j "$jobs"
fi
