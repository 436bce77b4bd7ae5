#pragma once
// Prometheus metrics of every role (names documented in README "Metrics"). One registry per process: in the
// embedded `run` all roles share it; each separate role process exposes its own /metrics on METRICS_PORT.
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace etp2s {

class Metrics {
 public:
  static Metrics& get();
  // Serves /metrics on host:port (port 0: not at all). Returns the bound port, or -1 on failure.
  int serve(const std::string& host, int port);

  prometheus::Counter& etp_requests(const std::string& route, const std::string& status);
  prometheus::Counter& alerts_fetched(const std::string& traffic_type);
  prometheus::Histogram& page_seconds();
  prometheus::Counter& duplicates_dropped();
  prometheus::Counter& stuck_cursors();
  prometheus::Gauge& budget_used(const std::string& route);
  prometheus::Gauge& budget_limit(const std::string& route);
  prometheus::Gauge& partition_progress(const std::string& partition);
  prometheus::Gauge& partition_eta(const std::string& partition);
  prometheus::Gauge& cursor_lag(const std::string& stream, const std::string& traffic_type);
  prometheus::Gauge& backfill_progress(const std::string& stream);
  prometheus::Counter& budget_wait(const std::string& route);
  // vendor, vendor_token, azure, azure_token, rejected_record
  prometheus::Counter& errors(const std::string& kind);
  prometheus::Gauge& partitions(const std::string& state);
  prometheus::Gauge& backfill_eta(const std::string& stream);
  prometheus::Histogram& delivery_latency();
  prometheus::Counter& shipper_batches(const std::string& outcome);
  prometheus::Counter& shipper_rows(const std::string& outcome);
  prometheus::Counter& shipper_bytes(const std::string& outcome);
  prometheus::Histogram& upload_seconds();
  prometheus::Counter& shipper_retries();
  prometheus::Gauge& queue_depth(const std::string& queue);
  prometheus::Counter& token_refreshes(const std::string& kind);
  prometheus::Counter& leases(const std::string& event);
  prometheus::Counter& protocol_refused(const std::string& reason);
  prometheus::Counter& state_write_failures(const std::string& what);
  prometheus::Counter& vendor_anomalies(const std::string& kind);
  prometheus::Gauge& fatal();
  // Lookups (alert details, alerted messages' trace): outcome = found, not_found, set_aside, dropped_full.
  prometheus::Counter& lookups(const std::string& queue, const std::string& outcome);
  prometheus::Gauge& lookup_queue_length(const std::string& queue);
  prometheus::Gauge& lookup_drain_per_min(const std::string& queue);
  prometheus::Gauge& lookup_eta(const std::string& queue);
  prometheus::Gauge& source_disabled(const std::string& source);
  // 1 for the alert API this process reads with (api="v1" or "v2"; ETP_API=auto moves to v2 when v1 retires).
  prometheus::Gauge& alert_api(const std::string& api);
  // 1 once the vendor answered the v1 alert API as retired (ETP_API=auto switched to v2); 0 before.
  prometheus::Gauge& v1_retired();
  // Where data is knowingly set aside: entries in the gap and dead-letter lists (list: gaps, dead_letters).
  prometheus::Gauge& state_list_entries(const std::string& list);
  // Entries removed from those lists, by list and reason (over_cap, expired).
  prometheus::Counter& state_list_dropped(const std::string& list, const std::string& reason);
  // When something last succeeded, as Unix time: what = poll (a vendor page read), commit (a position
  // committed in Redis), delivery (rows accepted by Azure). Absent until the first success in this process.
  prometheus::Gauge& last_success(const std::string& what);
  void mark_success(const std::string& what);
  // Redis as the state store sees it: up (1/0) and the round trip of a PING, from the one process that
  // publishes the list gauges.
  prometheus::Gauge& redis_up();
  prometheus::Gauge& redis_ping_seconds();

 private:
  Metrics();
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace etp2s
