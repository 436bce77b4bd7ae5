#pragma once
// The shipper: rows in, a DeliveryReport out — exactly which alert versions Azure accepted.
// Retryable failures are retried for as long as it takes (Retry-After, else full-jitter backoff), 413 splits
// the batch, fatal answers stop and acknowledge nothing more. Nothing is ever dropped silently.
#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "common/etp_model.h"
#include "shipper/destination.h"
#include "shipper/row.h"

namespace etp2s {

struct DeliveryReport {
  std::vector<std::string> delivered;      // version keys, accepted by Azure (2xx)
  std::vector<std::string> dead_lettered;  // version keys Azure can never accept (a single row refused 413)
  std::string fatal;                       // non-empty: stopped; the operator must act
  bool interrupted = false;                // stop requested while retrying
  std::size_t retries = 0;
  std::size_t batches = 0;
};

struct ShipperHooks {
  std::function<void(double seconds)> sleep;  // injected: tests compress time
  std::function<bool()> stop_requested = [] { return false; };
  std::function<void(const Row&, const std::string& why)> dead_letter;  // keeps what can never be delivered
  std::function<void(const PostResult&, std::size_t rows, double seconds)> on_post;  // metrics
};

class Shipper {
 public:
  Shipper(Destination& destination, ShipperHooks hooks);
  // Rows in order; the report lists what was delivered. Returns early on fatal or on stop.
  DeliveryReport deliver(const std::vector<Row>& rows);
  // Packs rows into JSON arrays of at most max_bytes (exposed for tests and the benchmark).
  static std::vector<std::pair<std::size_t, std::size_t>> pack(const std::vector<Row>& rows,
                                                               std::size_t max_bytes);
  static std::string body(const std::vector<Row>& rows, std::size_t begin, std::size_t end);

 private:
  bool send(const std::vector<Row>& rows, std::size_t begin, std::size_t end, DeliveryReport& report);
  Destination& dest_;
  ShipperHooks hooks_;
};

// Alert → Row, re-truncating harder if a row would not fit in one call on its own.
Row row_for(const Alert& alert, const OrderedJson* details, const Destination& destination);

}  // namespace etp2s
