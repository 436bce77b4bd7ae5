#pragma once
// A fetcher: asks the coordinator for a lease, pages its partition under the shared budget, drops versions
// already delivered (Redis marks), hands each page to a shipper, and commits — marks and cursor, guarded by
// the lease epoch — only after the shipper's delivery report ("ship early, commit late").
#include <atomic>
#include <string>

#include "common/config.h"

namespace etp2s {

struct FetcherOptions {
  std::string worker_id;
  int max_in_flight = 4;      // pages handed to shippers and not yet committed (bounded memory)
  int ack_timeout_ms = 5000;  // a page no shipper acknowledged is sent again
  int drain_timeout_s = 20;   // on SIGTERM: how long to wait for outstanding delivery reports
  int sweep_every = 3;        // steady state: one late-arrival sweep every N live polls
  // Leases worked at once (one thread and one worker id `<worker_id>/<n>` each): steady state needs two, so
  // that a lookup drain never holds up the next head poll (bench/README.md, "Steady state with the lookups
  // on").
  int slots = 1;
};

class Fetcher {
 public:
  Fetcher(const Config& config, FetcherOptions options);
  // Runs until stop is set (exit 0) or a fatal error (non-zero, after recording it in Redis).
  int run(const std::atomic<bool>& stop);

 private:
  Config config_;
  FetcherOptions opt_;
};

}  // namespace etp2s
