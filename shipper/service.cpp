#include "shipper/service.h"

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/log.h"
#include "common/messaging.h"
#include "common/metrics.h"
#include "common/state.h"
#include "shipper/shipper.h"

namespace etp2s {

std::unique_ptr<Destination> destination_from_config(const Config& c) {
  HttpOptions http{10'000, 120'000, c.sentinel_ca_bundle};
  if (c.sentinel_mode == "data-collector") {
    log::warn("shipper.data_collector_retired",
              {{"message",
                "SENTINEL_MODE=data-collector uses the HTTP Data Collector API, which Microsoft retired on "
                "2026-09-14; move to the Logs Ingestion API (SENTINEL_MODE=logs-ingestion) — see README"}});
    return std::make_unique<DataCollectorDestination>(
        DataCollectorSettings{c.sentinel_data_collector_url, c.sentinel_workspace_id, c.sentinel_shared_key,
                              c.sentinel_log_type, http});
  }
  auto cred = credential_from_config(c);
  log::info("shipper.credential", {{"source", cred->name()}});
  return std::make_unique<LogsIngestionDestination>(
      LogsIngestionSettings{c.sentinel_dce_url, c.sentinel_dcr_id, c.sentinel_stream, http, 1},
      std::move(cred));
}

namespace {

struct Job {
  std::string identity;
  nlohmann::json body;
};

Alert alert_from(const nlohmann::json& item) {
  Alert a;
  a.raw_text = item.value("raw", "");
  a.raw = OrderedJson::parse(a.raw_text, nullptr, false);
  if (a.raw.is_discarded()) a.raw = OrderedJson::object();
  a.id = string_at(a.raw, {"id"});
  a.etp_message_id = string_at(a.raw, {"attributes", "email", "etp_message_id"});
  a.last_modified_on = string_at(a.raw, {"attributes", "meta", "last_modified_on"});
  a.last_modified_us = parse_time(a.last_modified_on).value_or(0);
  a.traffic_type = item.value("traffic_type", "");
  return a;
}

}  // namespace

ShipperService::ShipperService(const Config& config, ShipperServiceOptions options)
    : config_(config), opt_(std::move(options)) {}

int ShipperService::run(const std::atomic<bool>& stop) {
  auto addr = parse_redis_url(config_.redis_url, config_.redis_ca_bundle);
  if (!addr) return 2;
  auto dest = destination_from_config(config_);
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Job> jobs;
  std::deque<Job> reports;
  std::atomic<bool> fatal{false};

  std::thread worker([&] {
    Redis redis(addr.value());
    StateStore store(redis);
    while (!stop && !fatal) {
      Job job;
      {
        std::unique_lock lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return !jobs.empty() || stop; });
        if (jobs.empty()) continue;
        job = std::move(jobs.front());
        jobs.pop_front();
        Metrics::get().queue_depth("shipper_pages").Set(static_cast<double>(jobs.size()));
      }
      const std::string partition = job.body.value("partition", "");
      const long long epoch = job.body.value("epoch", -1LL);
      ShipperHooks hooks;
      bool stale = false;
      hooks.stop_requested = [&] {
        if (stop) return true;
        auto e = store.epoch_of(partition);
        stale = e && e.value() != epoch;  // the fetcher lost its lease: the page will be redone by another
        return stale;
      };
      hooks.on_post = [](const PostResult& p, std::size_t rows, double seconds) {
        static const char* kOutcome[] = {"delivered", "retry", "too_large", "fatal"};
        const char* outcome = kOutcome[static_cast<int>(p.outcome)];
        auto& m = Metrics::get();
        m.shipper_batches(outcome).Increment();
        m.shipper_bytes(outcome).Increment(static_cast<double>(p.bytes_sent));
        m.upload_seconds().Observe(seconds);
        if (p.outcome == PostOutcome::Retry) {
          m.shipper_retries().Increment();
          m.shipper_rows("retried").Increment(static_cast<double>(rows));
        }
      };
      hooks.dead_letter = [&](const Row& row, const std::string& why) {
        nlohmann::json dl = {{"version", row.version_key}, {"why", why}, {"row", row.json}};
        (void)redis.command({"RPUSH", "etp:deadletter", dl.dump()});
      };
      std::vector<Row> rows;
      std::map<std::string, Micros> times;
      for (const auto& item : job.body.value("alerts", nlohmann::json::array())) {
        Alert a = alert_from(item);
        rows.push_back(row_for(a, nullptr, *dest));
        rows.back().version_key = item.value("key", rows.back().version_key);
        times[rows.back().version_key] = a.last_modified_us;
      }
      Shipper shipper(*dest, hooks);
      DeliveryReport r = shipper.deliver(rows);
      auto& metrics = Metrics::get();
      metrics.shipper_rows("delivered").Increment(static_cast<double>(r.delivered.size()));
      metrics.shipper_rows("dead_lettered").Increment(static_cast<double>(r.dead_lettered.size()));
      for (const auto& k : r.delivered) {
        metrics.delivery_latency().Observe(static_cast<double>(now_micros() - times[k]) / kMicrosPerSecond);
      }
      std::vector<DeliveredVersion> done;
      for (const auto* keys : {&r.delivered, &r.dead_lettered}) {
        for (const auto& k : *keys) done.push_back({k, times[k]});
      }
      for (int attempt = 0; !done.empty() && attempt < 20; ++attempt) {
        auto marked = store.mark_delivered(done);
        if (marked) break;
        log::warn("shipper.redis_unavailable", {{"error", marked.error()}});
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      if (!r.fatal.empty()) {
        store.set_fatal(r.fatal);
        fatal = true;
      }
      if (stale) log::warn("shipper.stale_epoch", {{"partition", partition}, {"epoch", epoch}});
      nlohmann::json report = {{"batch", job.body.value("batch", "")}, {"delivered", r.delivered},
                               {"dead_lettered", r.dead_lettered},     {"fatal", r.fatal},
                               {"interrupted", r.interrupted},         {"shipper", opt_.id}};
      std::lock_guard lock(mu);
      reports.push_back({job.identity, std::move(report)});
    }
  });

  zmq::socket_t router(zmq_context(), zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(opt_.endpoint);
  Redis redis(addr.value());
  StateStore store(redis);
  log::info("shipper.listening",
            {{"endpoint", opt_.endpoint}, {"id", opt_.id}, {"destination", dest->name()}});
  auto next_alive = std::chrono::steady_clock::now();
  int rc = 0;
  while (!stop) {
    if (std::chrono::steady_clock::now() >= next_alive) {
      store.shipper_alive(opt_.id, 5);
      next_alive = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      if (auto f = store.fatal()) {
        log::error("shipper.stopping_on_fatal", {{"error", *f}});
        rc = 3;
        break;
      }
    }
    if (fatal) {
      rc = 3;
    }
    if (auto m = receive_message(router, std::chrono::milliseconds(50), true); m && m->type == "ship") {
      send_message(router, "accepted", {{"batch", m->body.value("batch", "")}, {"shipper", opt_.id}},
                   m->identity);
      std::lock_guard lock(mu);
      jobs.push_back({m->identity, std::move(m->body)});
      Metrics::get().queue_depth("shipper_pages").Set(static_cast<double>(jobs.size()));
      cv.notify_one();
    }
    std::deque<Job> out;
    {
      std::lock_guard lock(mu);
      out.swap(reports);
    }
    for (auto& r : out) send_message(router, "report", r.body, r.identity);
    if (fatal && out.empty()) break;
  }
  cv.notify_all();
  worker.join();
  // Reports finished while stopping still go out, so fetchers can commit them.
  for (auto& r : reports) send_message(router, "report", r.body, r.identity);
  return rc;
}

}  // namespace etp2s
