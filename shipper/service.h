#pragma once
// The shipper role: a ZeroMQ ROUTER that acknowledges each row batch on receipt, a worker thread that
// delivers it to its stream's destination (shipper.h), and a delivery report back to the fetcher. Before
// every attempt it checks that the page's lease epoch is still current, so a page whose fetcher lost its
// lease is not shipped twice. It marks itself alive in Redis so fetchers can tell a slow shipper from a dead
// one.
#include <atomic>
#include <memory>
#include <string>

#include "common/config.h"
#include "shipper/destination.h"

namespace etp2s {

struct ShipperServiceOptions {
  std::string id;
  std::string endpoint;
};

// Where rows of `table` go, as SENTINEL_MODE and the stream variables say (nullptr: no such stream).
std::unique_ptr<Destination> destination_for(const Config& c, const std::string& table,
                                             std::shared_ptr<TokenCredential> credential);
// The alert stream's destination (tests, the benchmark).
std::unique_ptr<Destination> destination_from_config(const Config& c);

class ShipperService {
 public:
  ShipperService(const Config& config, ShipperServiceOptions options);
  int run(const std::atomic<bool>& stop);

 private:
  Config config_;
  ShipperServiceOptions opt_;
};

}  // namespace etp2s
