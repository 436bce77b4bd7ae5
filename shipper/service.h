#pragma once
// The shipper role: a ZeroMQ ROUTER that acknowledges each page on receipt, a worker thread that turns alerts
// into rows and delivers them (shipper.h), and a delivery report back to the fetcher. Before every attempt it
// checks that the page's lease epoch is still current, so a page whose fetcher lost its lease is not shipped
// twice. It marks itself alive in Redis so fetchers can tell a slow shipper from a dead one.
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

// The destination SENTINEL_MODE selects (warns at start about the retired Data Collector API).
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
