#include "shipper/service.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/backoff.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/protocol.h"
#include "common/state.h"
#include "common/stream.h"
#include "common/zmq_security.h"
#include "shipper/shipper.h"

namespace etp2s {

namespace {

constexpr std::size_t kMaxQueuedBatches = 64;  // beyond this, batches are not acknowledged (fetchers resend)
constexpr int kAliveTtlS = 5;                  // the liveness key fetchers look at
constexpr auto kAliveEvery = std::chrono::seconds(1);
constexpr auto kReceiveSlice = std::chrono::milliseconds(50);
constexpr auto kMarkRetryMax = 5.0;  // seconds between attempts to record delivered keys

const HttpOptions kAzureHttp{10'000, 120'000, ""};

}  // namespace

std::unique_ptr<Destination> destination_for(const Config& c, const std::string& table,
                                             std::shared_ptr<TokenCredential> credential) {
  HttpOptions http = kAzureHttp;
  http.ca_bundle = c.sentinel_ca_bundle;
  auto lookup = [&](const std::map<std::string, std::string>& m, const std::string& fallback) {
    auto it = m.find(table);
    return it == m.end() ? fallback : it->second;
  };
  auto schema = find_stream(table);
  if (!schema) return nullptr;
  if (c.sentinel_mode == "data-collector") {
    return std::make_unique<DataCollectorDestination>(DataCollectorSettings{
        c.sentinel_data_collector_url, c.sentinel_workspace_id, c.sentinel_shared_key,
        lookup(c.sentinel_log_types, schema->log_type), http, schema->time_generated_column});
  }
  return std::make_unique<LogsIngestionDestination>(
      LogsIngestionSettings{c.sentinel_dce_url, c.sentinel_dcr_id, lookup(c.sentinel_streams, schema->stream),
                            http, 1},
      std::move(credential));
}

std::unique_ptr<Destination> destination_from_config(const Config& c) {
  std::shared_ptr<TokenCredential> cred;
  if (c.sentinel_mode != "data-collector") cred = credential_from_config(c);
  return destination_for(c, "FireEyeETPAlerts_CL", std::move(cred));
}

namespace {

struct Job {
  std::string identity;
  RowBatch batch;
};

// Stream → destination, one per known stream; the credential (and its token) shared by all.
class Destinations {
 public:
  explicit Destinations(const Config& c) {
    if (c.sentinel_mode == "data-collector") {
      log::warn("shipper.data_collector_retired",
                {{"message",
                  "SENTINEL_MODE=data-collector uses the HTTP Data Collector API, which Microsoft retired on "
                  "2026-09-14; move to the Logs Ingestion API (SENTINEL_MODE=logs-ingestion) — see README"}});
    } else {
      credential_ = credential_from_config(c);
      log::info("shipper.credential", {{"source", credential_->name()}});
    }
    for (const auto& s : streams()) by_stream_[s.table] = destination_for(c, s.table, credential_);
  }
  Destination* find(const std::string& stream) {
    auto it = by_stream_.find(stream);
    return it == by_stream_.end() ? nullptr : it->second.get();
  }
  std::string name() const { return by_stream_.empty() ? "" : by_stream_.begin()->second->name(); }

 private:
  std::shared_ptr<TokenCredential> credential_;
  std::map<std::string, std::unique_ptr<Destination>> by_stream_;
};

// The delivery loop: takes one batch at a time, uploads it, records what Azure accepted, queues the report.
class Delivery {
 public:
  Delivery(const Config& c, const std::string& id, const std::atomic<bool>& stop, std::atomic<bool>& halt)
      : c_(c),
        id_(id),
        stop_(stop),
        halt_(halt),
        redis_(redis_address(c).value()),
        store_(redis_),
        destinations_(c) {}

  std::string destination_name() const { return destinations_.name(); }

  // Router side: false if the queue is full (the batch is then not acknowledged and will be sent again).
  bool offer(Job job) {
    std::lock_guard lock(mu_);
    if (stalled_ || jobs_.size() >= kMaxQueuedBatches) return false;
    // A resend of a batch this shipper already holds (its fetcher grew impatient): acknowledged, not queued
    // twice.
    if (!holding_.insert(job.batch.batch).second) return true;
    jobs_.push_back(std::move(job));
    Metrics::get().queue_depth("shipper_pages").Set(static_cast<double>(jobs_.size()));
    cv_.notify_one();
    return true;
  }

  std::deque<std::pair<std::string, DeliveryReport>> take_reports() {
    std::lock_guard lock(mu_);
    std::deque<std::pair<std::string, DeliveryReport>> out;
    out.swap(reports_);
    return out;
  }

  void wake() { cv_.notify_all(); }

  void run() {
    while (!stop_ && !halt_) {
      auto job = next_job();
      if (!job) continue;
      DeliveryReport r = deliver(job->batch);
      std::lock_guard lock(mu_);
      holding_.erase(job->batch.batch);
      reports_.emplace_back(job->identity, std::move(r));
    }
  }

 private:
  std::optional<Job> next_job() {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(200), [&] { return !jobs_.empty() || stop_ || halt_; });
    if (jobs_.empty()) return std::nullopt;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    Metrics::get().queue_depth("shipper_pages").Set(static_cast<double>(jobs_.size()));
    return job;
  }

  DeliveryReport deliver(const RowBatch& b) {
    DeliveryReport report{b.batch, id_, Outcome::RetryLater, {}, {}, ""};
    Destination* dest = destinations_.find(b.stream);
    auto epoch = store_.epoch_of(b.partition);
    if (!dest || (epoch && !epoch.value())) {
      // Not ours to ship: no table for the stream, or no such partition (a forged or foreign batch).
      report.outcome = Outcome::Refused;
      report.error = !dest ? "unknown stream " + b.stream.substr(0, 100) : "unknown partition";
      log::warn("shipper.batch_refused", {{"batch", b.batch.substr(0, 100)}, {"why", report.error}});
      return report;
    }
    RowBatch fresh = without_delivered(b, report);
    Shipment s = upload(*dest, fresh);
    count_rows(s, fresh);
    report.delivered.insert(report.delivered.end(), s.delivered.begin(), s.delivered.end());
    report.dead_lettered = std::move(s.dead_lettered);
    record_delivered(report, b);
    if (!s.fatal.empty()) {
      store_.set_fatal(s.fatal_code, s.fatal);
      halt_ = true;
      report.outcome = Outcome::Refused;
      report.error = s.fatal;
    } else if (report.delivered.size() + report.dead_lettered.size() == b.rows.size()) {
      report.outcome = Outcome::Delivered;
    }
    return report;
  }

  // Rows whose keys are already marked delivered (a resend whose first copy got through) are reported as
  // delivered without a second upload. If Redis cannot say, every row is uploaded: a duplicate beats a loss.
  RowBatch without_delivered(const RowBatch& b, DeliveryReport& report) {
    std::vector<DeliveredVersion> keys;
    for (const auto& r : b.rows) keys.push_back({r.key, r.time_us});
    auto seen = store_.delivered(keys);
    if (!seen) return b;
    RowBatch out{b.batch, b.partition, b.epoch, b.stream, {}};
    for (std::size_t i = 0; i < b.rows.size(); ++i) {
      if (seen.value()[i])
        report.delivered.push_back(b.rows[i].key);
      else
        out.rows.push_back(b.rows[i]);
    }
    if (out.rows.size() < b.rows.size())
      log::info("shipper.already_delivered", {{"batch", b.batch}, {"rows", b.rows.size() - out.rows.size()}});
    return out;
  }

  Shipment upload(Destination& dest, const RowBatch& b) {
    ShipperHooks hooks;
    bool stale = false;
    hooks.stop_requested = [&] {
      if (stop_ || halt_) return true;
      auto e = store_.epoch_of(b.partition);
      stale = e && e.value() && *e.value() != b.epoch;  // the fetcher lost its lease: redone by another
      return stale;
    };
    hooks.on_post = count_post;
    hooks.dead_letter = [&](const Row& row, const std::string& why) {
      auto ok = store_.dead_letter(b.stream, row.key, why, row.json);
      if (ok) return true;
      log::error("shipper.dead_letter_not_written", {{"key", row.key}, {"error", ok.error()}});
      Metrics::get().state_write_failures("dead_letter").Increment();
      return false;
    };
    Shipment s = Shipper(dest, hooks).deliver(b.rows);
    if (stale) log::warn("shipper.stale_epoch", {{"partition", b.partition}, {"epoch", b.epoch}});
    return s;
  }

  static void count_post(const PostResult& p, std::size_t rows, double seconds) {
    const std::string outcome = p.too_large ? "too_large" : std::string(outcome_name(p.outcome));
    auto& m = Metrics::get();
    m.shipper_batches(outcome).Increment();
    m.shipper_bytes(outcome).Increment(static_cast<double>(p.bytes_sent));
    m.upload_seconds().Observe(seconds);
    // 413 is not an error: the batch is split and sent again (counted as too_large above).
    if (p.outcome != Outcome::Delivered && !p.too_large) m.errors("azure").Increment();
    if (p.outcome == Outcome::RetryLater) {
      m.shipper_retries().Increment();
      m.shipper_rows("retried").Increment(static_cast<double>(rows));
    }
  }

  static void count_rows(const Shipment& r, const RowBatch& b) {
    auto& m = Metrics::get();
    m.shipper_rows("delivered").Increment(static_cast<double>(r.delivered.size()));
    if (!r.delivered.empty()) m.mark_success("delivery");
    m.shipper_rows("dead_lettered").Increment(static_cast<double>(r.dead_lettered.size()));
    m.errors("rejected_record").Increment(static_cast<double>(r.dead_lettered.size()));
    std::map<std::string, Micros> times;
    for (const auto& row : b.rows) times[row.key] = row.time_us;
    for (const auto& k : r.delivered)
      m.delivery_latency().Observe(static_cast<double>(now_micros() - times[k]) / kMicrosPerSecond);
  }

  // The marks of what Azure accepted, written the moment we know (a fetcher dying before its commit must not
  // make the page's successor ship it again). Retried until Redis takes them; meanwhile no new work is taken.
  void record_delivered(const DeliveryReport& r, const RowBatch& b) {
    std::map<std::string, Micros> times;
    for (const auto& row : b.rows) times[row.key] = row.time_us;
    std::vector<DeliveredVersion> done;
    for (const auto* keys : {&r.delivered, &r.dead_lettered}) {
      for (const auto& k : *keys) done.push_back({k, times[k]});
    }
    Backoff backoff(0.25, kMarkRetryMax);
    for (bool first = true; !done.empty(); first = false) {
      auto marked = store_.mark_delivered(done);
      if (marked) {
        if (!first)
          log::info("shipper.delivered_marks_recorded", {{"batch", b.batch}, {"rows", done.size()}});
        stalled_ = false;
        return;
      }
      stalled_ = true;
      if (first) {
        log::error("shipper.delivered_marks_failed",
                   {{"batch", b.batch},
                    {"error", marked.error()},
                    {"message",
                     "Azure accepted the rows but Redis did not record them; not taking new work "
                     "until it does"}});
        Metrics::get().state_write_failures("delivered_marks").Increment();
      }
      if (stop_ || halt_) {
        stalled_ = false;
        return;  // the fetcher's commit records them too, once Redis is back
      }
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff.next()));
    }
  }

  const Config& c_;
  std::string id_;
  const std::atomic<bool>& stop_;
  std::atomic<bool>& halt_;
  Redis redis_;
  StateStore store_;
  Destinations destinations_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  std::set<std::string> holding_;  // batch ids queued or being delivered
  std::deque<std::pair<std::string, DeliveryReport>> reports_;
  std::atomic<bool> stalled_{false};  // delivered keys not recorded yet: no new work is taken
};

}  // namespace

ShipperService::ShipperService(const Config& config, ShipperServiceOptions options)
    : config_(config), opt_(std::move(options)) {}

int ShipperService::run(const std::atomic<bool>& stop) {
  if (!redis_address(config_)) return 2;
  std::atomic<bool> halt{false};  // a Sentinel refusal here, or a fatal error recorded by any role
  Delivery delivery(config_, opt_.id, stop, halt);
  std::thread worker([&] { delivery.run(); });
  std::shared_ptr<ZapHandler> zap;
  zmq::socket_t router = make_socket(zmq::socket_type::router);
  if (auto bound = bind_secured(router, opt_.endpoint, config_.zmq, zap); !bound) {
    log::error("shipper.cannot_listen", {{"error", bound.error()}});
    halt = true;
    delivery.wake();
    worker.join();
    return 2;
  }
  Redis redis(redis_address(config_).value());
  StateStore store(redis);
  log::info("shipper.listening",
            {{"endpoint", opt_.endpoint}, {"id", opt_.id}, {"destination", delivery.destination_name()}});
  auto next_alive = std::chrono::steady_clock::now();
  bool fatal_elsewhere = false;
  while (!stop) {
    if (std::chrono::steady_clock::now() >= next_alive) {
      store.shipper_alive(opt_.id, kAliveTtlS);
      next_alive = std::chrono::steady_clock::now() + kAliveEvery;
      if (auto f = store.fatal(); f && !halt) {
        log::error("shipper.stopping_on_fatal", {{"code", f->code}, {"error", f->detail}});
        fatal_elsewhere = halt = true;
      }
    }
    if (auto m = receive(router, kReceiveSlice, true); m && m->message.kind == Kind::RowBatch) {
      auto& batch = std::get<RowBatch>(m->message.body);
      std::string id = batch.batch;
      if (!halt && delivery.offer({m->identity, std::move(batch)}))
        send(router, msg(Accepted{id, opt_.id}), m->identity);
    }
    auto reports = delivery.take_reports();
    for (auto& [identity, r] : reports) send(router, msg(std::move(r)), identity);
    if (halt && reports.empty()) break;
  }
  delivery.wake();
  worker.join();
  // Reports finished while stopping still go out, so fetchers can commit them.
  for (auto& [identity, r] : delivery.take_reports()) send(router, msg(std::move(r)), identity);
  return halt || fatal_elsewhere ? 3 : 0;
}

}  // namespace etp2s
