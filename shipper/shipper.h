#pragma once
// The shipper: rows in, a Shipment out — exactly which rows (by key) Azure accepted. It knows no vendor
// field: rows arrive built (sources/), and only their keys, sizes and JSON text are used here. Retryable
// failures are retried for as long as it takes (Retry-After, else full-jitter backoff), 413 splits the batch,
// fatal answers stop and acknowledge nothing more. Nothing is ever dropped silently.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "shipper/destination.h"

namespace etp2s {

struct Shipment {
  std::vector<std::string> delivered;      // row keys, accepted by Azure (2xx)
  std::vector<std::string> dead_lettered;  // row keys Azure can never accept (a single row refused 413), kept
  std::string fatal;                       // non-empty: stopped; the operator must act
  const char* fatal_code = "";             // common/state.h fatal_code, with `fatal`
  bool interrupted = false;                // stop requested while retrying
  std::size_t retries = 0;
  std::size_t batches = 0;
};

struct ShipperHooks {
  std::function<void(double seconds)> sleep;  // injected: tests compress time
  std::function<bool()> stop_requested = [] { return false; };
  // Keeps what can never be delivered; false if it could not be kept (the row then counts as not delivered).
  std::function<bool(const Row&, const std::string& why)> dead_letter;
  std::function<void(const PostResult&, std::size_t rows, double seconds)> on_post;  // metrics
};

class Shipper {
 public:
  Shipper(Destination& destination, ShipperHooks hooks);
  // Rows in order; the report lists what was delivered. Returns early on fatal or on stop.
  Shipment deliver(const std::vector<Row>& rows);
  // Packs rows into JSON arrays of at most max_bytes (exposed for tests and the benchmark).
  static std::vector<std::pair<std::size_t, std::size_t>> pack(const std::vector<Row>& rows,
                                                               std::size_t max_bytes);
  static std::string body(const std::vector<Row>& rows, std::size_t begin, std::size_t end);

 private:
  bool send(const std::vector<Row>& rows, std::size_t begin, std::size_t end, Shipment& report);
  bool split(const std::vector<Row>& rows, std::size_t begin, std::size_t end, Shipment& report,
             const std::string& why);
  Destination& dest_;
  ShipperHooks hooks_;
};

}  // namespace etp2s
