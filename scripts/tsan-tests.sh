#!/usr/bin/env bash
# The ThreadSanitizer pass of scripts/test.sh: builds the tsan flavour (build-tsan) and runs the tests that start
# threads — the pipeline and shipper suites, the rediss:// TLS pump, the function host, the ETP client against
# etp-sim's server thread, and the stand-ins entrypoint (every role of `etp2sentinel run` in one process).
# Child processes (etp2sentinel, etp-sim, sentinel-sim started by the tests) are instrumented too and inherit
# TSAN_OPTIONS; every report, from the test or from a child, is written under build-tsan/tsan-reports and fails
# the pass even if the test itself passed. Suppressions (tests/tsan.supp) are for third-party libraries only.
# Usage: tsan-tests.sh [extra ctest arguments]   (e.g. -R '^RedisTls\.' to run one suite)
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh tsan

# GoogleTest suites (ctest names are Suite.Test) run under TSan.
suites=(
  Budget State Plan EndToEnd ToyStream Fetcher Coordinator Security   # tests/pipeline
  SharedKey ShipperIntegration ShipperService AzureTokenRefresh  # tests/shipper
  Protocol                                     # tests/common/protocol_test.cpp: real sockets
  TokenCache                                   # tests/common/token_cache_test.cpp: concurrent callers
  RedisTls                                     # tests/common/redis_tls_test.cpp: the TLS pump thread
  TlsMinimum                                   # tests/common/tls_minimum_test.cpp: a TLS server thread, the pump
  FunctionHost                                 # tests/app/function_host_test.cpp
  EtpClientIntegration                         # etp-sim serves from its own threads in the test process
  SupportingData                               # tests/pipeline: lookups and the quarantine, roles killed
  QuarantineSource                             # tests/sources: etp-sim and a test server on their own threads
)
# Single tests outside those suites that start threads.
singles=(
  DeployFiles.StandinsEntrypointDeliversEverything   # `etp2sentinel run` + both stand-ins, multi-threaded
)
# Tests of those suites not run under TSan, each with the reason (docs/testing.md lists them too).
excluded=(
)

regex="^($(IFS='|'; echo "${suites[*]}"))\\.|^($(IFS='|'; echo "${singles[*]}" | sed 's/\./\\./g'))\$"
exclude_args=()
if [ ${#excluded[@]} -gt 0 ]; then
  exclude_args=(-E "^($(IFS='|'; echo "${excluded[*]}" | sed 's/\./\\./g'))\$")
fi

reports=$PWD/build-tsan/tsan-reports
rm -rf "$reports" && mkdir -p "$reports"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp log_path=$reports/tsan"
status=0
(cd build-tsan && ctest --output-on-failure -j 2 --timeout 1200 -R "$regex" "${exclude_args[@]}" "$@") || status=$?
if compgen -G "$reports/tsan.*" >/dev/null; then
  for f in "$reports"/tsan.*; do echo "=== ThreadSanitizer report $f"; cat "$f"; done
  echo "tsan-tests: ThreadSanitizer reported problems (above)" >&2
  status=1
fi
[ $status -eq 0 ] && echo "tsan-tests: ok"
exit $status
