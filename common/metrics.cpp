#include "common/metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include <prometheus/exposer.h>

#include "common/log.h"

namespace etp2s {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::shared_ptr<prometheus::Collectable> process;  // the process metrics (served next to the registry)
  std::unique_ptr<prometheus::Exposer> exposer;
  std::mutex mu;
  prometheus::Family<prometheus::Counter>& etp_requests =
      BuildCounter()
          .Name("etp2s_etp_requests_total")
          .Help("Requests to the ETP API by route and HTTP status (0: no answer)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& alerts_fetched =
      BuildCounter()
          .Name("etp2s_alerts_fetched_total")
          .Help("New alert versions handed on by the pager, by traffic type")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& page_seconds = BuildHistogram()
                                                                .Name("etp2s_etp_page_seconds")
                                                                .Help("ETP alert summary call duration")
                                                                .Register(*registry);
  prometheus::Family<prometheus::Counter>& duplicates =
      BuildCounter()
          .Name("etp2s_duplicates_dropped_total")
          .Help("Alert versions dropped because they were already delivered")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& stuck =
      BuildCounter()
          .Name("etp2s_stuck_cursors_total")
          .Help("Stuck cursors skipped by 1 ms (recorded in etp:gaps)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& budget_used =
      BuildGauge()
          .Name("etp2s_budget_used")
          .Help("Requests granted in the current sliding window, by route")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& budget_limit =
      BuildGauge()
          .Name("etp2s_budget_limit")
          .Help("Requests allowed per sliding window, by route")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& progress = BuildGauge()
                                                        .Name("etp2s_partition_progress_ratio")
                                                        .Help("Backfill progress of a partition (0..1)")
                                                        .Register(*registry);
  prometheus::Family<prometheus::Gauge>& eta = BuildGauge()
                                                   .Name("etp2s_partition_eta_seconds")
                                                   .Help("Estimated seconds until a partition is done")
                                                   .Register(*registry);
  prometheus::Family<prometheus::Gauge>& lag =
      BuildGauge()
          .Name("etp2s_cursor_lag_seconds")
          .Help(
              "How far behind now the complete knowledge of a stream is: now minus the instant before which "
              "everything the vendor showed has been delivered (a caught-up head: its last successful poll)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& backfill_progress =
      BuildGauge()
          .Name("etp2s_backfill_progress_ratio")
          .Help("Share of a paged stream's window read and delivered (0..1), over all its partitions")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& backfill_eta =
      BuildGauge()
          .Name("etp2s_backfill_eta_seconds")
          .Help(
              "Seconds until a paged stream's backfill is done at the rate of the last minute (0: done; -1: "
              "no "
              "progress in the last minute)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& budget_wait =
      BuildCounter()
          .Name("etp2s_budget_wait_seconds_total")
          .Help(
              "Seconds paging requests waited for a permit of the route's budget (the vendor limit at work; "
              "a rate near the number of fetchers: the budget, not the fetchers, sets the pace)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& errors =
      BuildCounter()
          .Name("etp2s_errors_total")
          .Help(
              "Failures by kind: vendor (an ETP request not answered with usable data), vendor_token (the "
              "ETP "
              "token request), azure (an upload Azure did not accept), azure_token (the Entra ID token "
              "request), rejected_record (a record or row set aside in the dead letters)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& partitions =
      BuildGauge()
          .Name("etp2s_partitions")
          .Help("Partitions of the plan by state (pending, leased, done, live)")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& delivery_latency =
      BuildHistogram()
          .Name("etp2s_delivery_latency_seconds")
          .Help("last_modified_on to accepted by Azure, per alert version")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& batches = BuildCounter()
                                                         .Name("etp2s_shipper_batches_total")
                                                         .Help("Upload attempts by outcome")
                                                         .Register(*registry);
  prometheus::Family<prometheus::Counter>& rows =
      BuildCounter()
          .Name("etp2s_shipper_rows_total")
          .Help("Rows by outcome (delivered, dead_lettered, retried)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& bytes = BuildCounter()
                                                       .Name("etp2s_shipper_bytes_total")
                                                       .Help("Bytes sent to Azure by outcome")
                                                       .Register(*registry);
  prometheus::Family<prometheus::Histogram>& upload =
      BuildHistogram().Name("etp2s_upload_seconds").Help("Upload call duration").Register(*registry);
  prometheus::Family<prometheus::Counter>& retries = BuildCounter()
                                                         .Name("etp2s_shipper_retries_total")
                                                         .Help("Upload attempts that will be retried")
                                                         .Register(*registry);
  prometheus::Family<prometheus::Gauge>& queue =
      BuildGauge().Name("etp2s_queue_depth").Help("Pages waiting, by queue").Register(*registry);
  prometheus::Family<prometheus::Counter>& tokens =
      BuildCounter().Name("etp2s_token_refreshes_total").Help("Tokens fetched, by kind").Register(*registry);
  prometheus::Family<prometheus::Counter>& leases =
      BuildCounter()
          .Name("etp2s_leases_total")
          .Help(
              "Lease events (granted, expired, released, done, abandoned; yield_asked, split: adaptive "
              "partitions)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& fatal = BuildGauge()
                                                     .Name("etp2s_fatal")
                                                     .Help("1 while stopped on a fatal error (see logs)")
                                                     .Register(*registry);
  prometheus::Family<prometheus::Counter>& refused =
      BuildCounter()
          .Name("etp2s_protocol_refused_total")
          .Help("Messages between roles refused unread, by reason (version, kind, frames, malformed)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& state_failures =
      BuildCounter()
          .Name("etp2s_state_write_failures_total")
          .Help(
              "Writes to Redis that failed after Azure accepted rows, by what (dead_letter, delivered_marks)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& anomalies =
      BuildCounter()
          .Name("etp2s_vendor_anomalies_total")
          .Help("Vendor data met defensively, by kind (text_repaired, future_record)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& lookups =
      BuildCounter()
          .Name("etp2s_lookups_total")
          .Help("Per-alert lookups by queue and outcome (found, not_found, set_aside, dropped_full)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& lookup_length =
      BuildGauge().Name("etp2s_lookup_queue_length").Help("Lookups waiting, by queue").Register(*registry);
  prometheus::Family<prometheus::Gauge>& lookup_rate =
      BuildGauge()
          .Name("etp2s_lookup_drain_per_minute")
          .Help("Lookups completed per minute over the last 5 minutes, by queue")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& lookup_eta =
      BuildGauge()
          .Name("etp2s_lookup_eta_seconds")
          .Help("Queue length over the recent drain rate (-1: not draining), by queue")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& alert_api =
      BuildGauge()
          .Name("etp2s_alert_api")
          .Help("1 for the vendor alert API the alerts are read with (v1, or v2 once v1 answered as retired)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& v1_retired =
      BuildGauge()
          .Name("etp2s_etp_v1_retired")
          .Help("1 once the vendor answered the v1 alert API as retired (404/410) and the alerts moved to v2")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& last_success =
      BuildGauge()
          .Name("etp2s_last_success_timestamp_seconds")
          .Help("When something last succeeded (Unix time), by what: poll, commit, delivery")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& redis_up = BuildGauge()
                                                        .Name("etp2s_redis_up")
                                                        .Help("1 when the state store answered its last PING")
                                                        .Register(*registry);
  prometheus::Family<prometheus::Gauge>& redis_ping =
      BuildGauge()
          .Name("etp2s_redis_ping_seconds")
          .Help("Round trip of the state store's last PING (seconds)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& source_disabled =
      BuildGauge()
          .Name("etp2s_source_disabled")
          .Help(
              "1 when a supporting-data source was switched off by a fatal answer (e.g. a missing "
              "entitlement)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& state_lists =
      BuildGauge()
          .Name("etp2s_state_list_entries")
          .Help("Entries in the Redis lists of set-aside data, by list (gaps, dead_letters)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& state_lists_dropped =
      BuildCounter()
          .Name("etp2s_state_list_dropped_total")
          .Help(
              "Entries removed from the set-aside lists, by list (gaps, dead_letters) and reason (over_cap, "
              "expired)")
          .Register(*registry);
  prometheus::Family<prometheus::Gauge>& build =
      BuildGauge().Name("etp2s_build_info").Help("Build information").Register(*registry);
};

namespace {
const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128};
  return b;
}
const std::vector<double>& delivery_buckets() {
  static const std::vector<double> b{1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400, 604800};
  return b;
}
}  // namespace

Metrics& Metrics::get() {
  static Metrics m;
  return m;
}

namespace {

// The standard process metrics (as the Go and Python clients export them), read from /proc at each scrape:
// prometheus-cpp has no collector of its own for them.
class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto one = [&](const char* name, const char* help, prometheus::MetricType type, double v) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      prometheus::ClientMetric m;
      if (type == prometheus::MetricType::Counter) {
        m.counter.value = v;
      } else {
        m.gauge.value = v;
      }
      f.metric.push_back(m);
      out.push_back(std::move(f));
    };
    std::ifstream stat("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');  // the command name may hold spaces and parentheses
    if (close == std::string::npos) return out;
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f;
    for (std::string x; fields >> x;) f.push_back(x);
    // After the name: state is field 3, so field n is f[n - 3].
    if (f.size() < 22) return out;
    const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    one("process_cpu_seconds_total", "User and system CPU time spent in seconds",
        prometheus::MetricType::Counter, (std::stod(f[11]) + std::stod(f[12])) / tick);
    one("process_virtual_memory_bytes", "Virtual memory size in bytes", prometheus::MetricType::Gauge,
        std::stod(f[20]));
    one("process_resident_memory_bytes", "Resident memory size in bytes", prometheus::MetricType::Gauge,
        std::stod(f[21]) * page);
    std::ifstream st("/proc/stat");
    for (std::string line; std::getline(st, line);) {
      if (line.rfind("btime ", 0) == 0) {
        one("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds",
            prometheus::MetricType::Gauge, std::stod(line.substr(6)) + std::stod(f[19]) / tick);
        break;
      }
    }
    if (DIR* d = opendir("/proc/self/fd")) {
      double n = 0;
      while (readdir(d)) ++n;
      closedir(d);
      one("process_open_fds", "Number of open file descriptors", prometheus::MetricType::Gauge,
          std::max(0.0, n - 3));  // without ".", ".." and the directory itself
    }
    one("process_max_fds", "Maximum number of open file descriptors", prometheus::MetricType::Gauge,
        static_cast<double>(sysconf(_SC_OPEN_MAX)));
    return out;
  }
};

}  // namespace

Metrics::Metrics() : impl_(std::make_shared<Impl>()) {
  impl_->build.Add({{"version", ETP2S_VERSION}}).Set(1);
  impl_->process = std::make_shared<ProcessCollector>();
  // Every counter's known label values from the start, at 0: a rate or increase() sees the first event (a
  // series born at its first increment has no earlier sample to compare with).
  for (const char* list : {"gaps", "dead_letters"}) {
    for (const char* reason : {"over_cap", "expired"}) state_list_dropped(list, reason);
  }
  for (const char* state : {"pending", "leased", "done", "live"}) partitions(state);
  for (const char* kind : {"vendor", "vendor_token", "azure", "azure_token", "rejected_record"}) errors(kind);
  for (const char* route : {"alerts", "trace", "quarantine"}) {
    budget_wait(route);
    for (const char* status : {"200", "401", "403", "404", "429", "500", "502", "503", "0"})
      etp_requests(route, status);
  }
  for (const char* e : {"granted", "released", "done", "expired", "abandoned", "yield_asked", "split"})
    leases(e);
  for (const char* o : {"delivered", "retried", "dead_lettered"}) shipper_rows(o);
  for (const char* r :
       {"malformed", "unauthenticated", "unexpected", "version", "kind", "frames", "oversized"})
    protocol_refused(r);
  for (const char* k : {"future_record", "text_repaired"}) vendor_anomalies(k);
  for (const char* w : {"dead_letter", "delivered_marks"}) state_write_failures(w);
  duplicates_dropped();
  stuck_cursors();
  shipper_retries();
  fatal().Set(0);
}

int Metrics::serve(const std::string& host, int port) {
  if (port <= 0) return 0;
  std::lock_guard lock(impl_->mu);
  if (impl_->exposer) return impl_->exposer->GetListeningPorts().front();
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(host + ":" + std::to_string(port), 2);
    impl_->exposer->RegisterCollectable(impl_->registry);
    impl_->exposer->RegisterCollectable(impl_->process);
    int bound = impl_->exposer->GetListeningPorts().front();
    log::info("metrics.listening", {{"address", host + ":" + std::to_string(bound)}});
    return bound;
  } catch (const std::exception& e) {
    log::error("metrics.cannot_listen", {{"port", port}, {"error", e.what()}});
    return -1;
  }
}

prometheus::Counter& Metrics::etp_requests(const std::string& route, const std::string& status) {
  return impl_->etp_requests.Add({{"route", route}, {"status", status}});
}
prometheus::Counter& Metrics::alerts_fetched(const std::string& t) {
  return impl_->alerts_fetched.Add({{"traffic_type", t}});
}
prometheus::Histogram& Metrics::page_seconds() {
  return impl_->page_seconds.Add({}, latency_buckets());
}
prometheus::Counter& Metrics::duplicates_dropped() {
  return impl_->duplicates.Add({});
}
prometheus::Counter& Metrics::stuck_cursors() {
  return impl_->stuck.Add({});
}
prometheus::Gauge& Metrics::budget_used(const std::string& r) {
  return impl_->budget_used.Add({{"route", r}});
}
prometheus::Gauge& Metrics::budget_limit(const std::string& r) {
  return impl_->budget_limit.Add({{"route", r}});
}
prometheus::Gauge& Metrics::partition_progress(const std::string& p) {
  return impl_->progress.Add({{"partition", p}});
}
prometheus::Gauge& Metrics::partition_eta(const std::string& p) {
  return impl_->eta.Add({{"partition", p}});
}
prometheus::Gauge& Metrics::cursor_lag(const std::string& stream, const std::string& t) {
  return impl_->lag.Add({{"stream", stream}, {"traffic_type", t}});
}
prometheus::Gauge& Metrics::backfill_progress(const std::string& stream) {
  return impl_->backfill_progress.Add({{"stream", stream}});
}
prometheus::Gauge& Metrics::backfill_eta(const std::string& stream) {
  return impl_->backfill_eta.Add({{"stream", stream}});
}
prometheus::Counter& Metrics::budget_wait(const std::string& route) {
  return impl_->budget_wait.Add({{"route", route}});
}
prometheus::Counter& Metrics::errors(const std::string& kind) {
  return impl_->errors.Add({{"kind", kind}});
}
prometheus::Gauge& Metrics::partitions(const std::string& state) {
  return impl_->partitions.Add({{"state", state}});
}
prometheus::Histogram& Metrics::delivery_latency() {
  return impl_->delivery_latency.Add({}, delivery_buckets());
}
prometheus::Counter& Metrics::shipper_batches(const std::string& o) {
  return impl_->batches.Add({{"outcome", o}});
}
prometheus::Counter& Metrics::shipper_rows(const std::string& o) {
  return impl_->rows.Add({{"outcome", o}});
}
prometheus::Counter& Metrics::shipper_bytes(const std::string& o) {
  return impl_->bytes.Add({{"outcome", o}});
}
prometheus::Histogram& Metrics::upload_seconds() {
  return impl_->upload.Add({}, latency_buckets());
}
prometheus::Counter& Metrics::shipper_retries() {
  return impl_->retries.Add({});
}
prometheus::Gauge& Metrics::queue_depth(const std::string& q) {
  return impl_->queue.Add({{"queue", q}});
}
prometheus::Counter& Metrics::token_refreshes(const std::string& k) {
  return impl_->tokens.Add({{"kind", k}});
}
prometheus::Counter& Metrics::leases(const std::string& e) {
  return impl_->leases.Add({{"event", e}});
}
prometheus::Counter& Metrics::protocol_refused(const std::string& reason) {
  return impl_->refused.Add({{"reason", reason}});
}
prometheus::Counter& Metrics::state_write_failures(const std::string& what) {
  return impl_->state_failures.Add({{"what", what}});
}
prometheus::Counter& Metrics::vendor_anomalies(const std::string& kind) {
  return impl_->anomalies.Add({{"kind", kind}});
}
prometheus::Counter& Metrics::lookups(const std::string& queue, const std::string& outcome) {
  return impl_->lookups.Add({{"queue", queue}, {"outcome", outcome}});
}
prometheus::Gauge& Metrics::lookup_queue_length(const std::string& queue) {
  return impl_->lookup_length.Add({{"queue", queue}});
}
prometheus::Gauge& Metrics::lookup_drain_per_min(const std::string& queue) {
  return impl_->lookup_rate.Add({{"queue", queue}});
}
prometheus::Gauge& Metrics::lookup_eta(const std::string& queue) {
  return impl_->lookup_eta.Add({{"queue", queue}});
}
prometheus::Gauge& Metrics::alert_api(const std::string& api) {
  return impl_->alert_api.Add({{"api", api}});
}
prometheus::Gauge& Metrics::last_success(const std::string& what) {
  return impl_->last_success.Add({{"what", what}});
}
void Metrics::mark_success(const std::string& what) {
  last_success(what).Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}
prometheus::Gauge& Metrics::redis_up() {
  return impl_->redis_up.Add({});
}
prometheus::Gauge& Metrics::redis_ping_seconds() {
  return impl_->redis_ping.Add({});
}
prometheus::Gauge& Metrics::v1_retired() {
  return impl_->v1_retired.Add({});
}
prometheus::Gauge& Metrics::source_disabled(const std::string& source) {
  return impl_->source_disabled.Add({{"source", source}});
}
prometheus::Gauge& Metrics::fatal() {
  return impl_->fatal.Add({});
}
prometheus::Gauge& Metrics::state_list_entries(const std::string& list) {
  return impl_->state_lists.Add({{"list", list}});
}
prometheus::Counter& Metrics::state_list_dropped(const std::string& list, const std::string& reason) {
  return impl_->state_lists_dropped.Add({{"list", list}, {"reason", reason}});
}

}  // namespace etp2s
