#include "coordinator/coordinator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <thread>

#include "common/budget.h"
#include "common/log.h"
#include "common/messaging.h"
#include "common/metrics.h"

namespace etp2s {

std::vector<Partition> plan_partitions(const PlanOptions& o) {
  std::vector<Partition> out;
  const Micros window = static_cast<Micros>(o.backfill_days) * kMicrosPerDay;
  const Micros start = o.now_us - window;
  int types = std::max<int>(1, static_cast<int>(o.traffic_types.size()));
  // Twice as many partitions as fetchers, at least one hour each, so that no fetcher idles while one drags.
  int slices = std::clamp((2 * o.fetchers + types - 1) / types, 1, std::max(1, o.backfill_days * 24));
  for (const auto& t : o.traffic_types) {
    for (int i = 0; i < slices; ++i) {
      Partition p;
      char id[64];
      std::snprintf(id, sizeof id, "%s-%02d", t.c_str(), i);
      p.id = id;
      p.traffic_type = t;
      p.start_us = (start + window * i / slices) / 1000 * 1000;
      if (i + 1 < slices) p.end_us = (start + window * (i + 1) / slices) / 1000 * 1000;
      p.cursor = format_vendor(p.start_us);
      p.state = "pending";
      out.push_back(std::move(p));
    }
  }
  return out;
}

nlohmann::json describe_progress(const std::vector<Partition>& parts, Micros plan_created_us, Micros now_us) {
  nlohmann::json out = nlohmann::json::array();
  double elapsed_s = std::max(1.0, static_cast<double>(now_us - plan_created_us) / kMicrosPerSecond);
  for (const auto& p : parts) {
    Micros end = p.end_us ? *p.end_us : std::max(now_us, p.start_us + 1);
    auto cursor = parse_time(p.cursor).value_or(p.start_us);
    double ratio = p.state == "done"
                       ? 1.0
                       : std::clamp(static_cast<double>(cursor - p.start_us) /
                                        static_cast<double>(std::max<Micros>(1, end - p.start_us)),
                                    0.0, 1.0);
    double rate = static_cast<double>(p.delivered) / elapsed_s;
    nlohmann::json j = {
        {"partition", p.id},  {"traffic_type", p.traffic_type}, {"state", p.state},     {"done_ratio", ratio},
        {"cursor", p.cursor}, {"delivered", p.delivered},       {"alerts_per_s", rate}, {"epoch", p.epoch},
        {"owner", p.owner}};
    if (ratio > 0 && ratio < 1) j["eta_s"] = elapsed_s * (1 - ratio) / ratio;
    if (p.live()) {
      j["lag_s"] = static_cast<double>(now_us - cursor) / kMicrosPerSecond;
      j["caught_up"] = p.caught_up_us > 0;
    }
    out.push_back(j);
  }
  return out;
}

namespace {
void publish_gauges(const std::vector<Partition>& parts, Micros plan_created, Micros now, Budget& budget,
                    int limit, bool fatal) {
  auto& m = Metrics::get();
  for (const auto& line : describe_progress(parts, plan_created, now)) {
    const std::string id = line["partition"];
    m.partition_progress(id).Set(line["done_ratio"].get<double>());
    m.partition_eta(id).Set(line.value("eta_s", 0.0));
    if (line.contains("lag_s") && line.value("caught_up", false)) {
      m.cursor_lag(line["traffic_type"].get<std::string>()).Set(line["lag_s"].get<double>());
    }
  }
  long long used = budget.used("alerts");
  if (used >= 0) m.budget_used("alerts").Set(static_cast<double>(used));
  m.budget_limit("alerts").Set(limit);
  m.fatal().Set(fatal ? 1 : 0);
}
}  // namespace

Coordinator::Coordinator(const Config& config, CoordinatorOptions options)
    : config_(config), opt_(std::move(options)) {}

int Coordinator::run(const std::atomic<bool>& stop) {
  auto addr = parse_redis_url(config_.redis_url, config_.redis_ca_bundle);
  if (!addr) {
    log::error("coordinator.fatal", {{"error", addr.error()}});
    return 2;
  }
  Redis redis(addr.value());
  StateStore store(redis);
  zmq::socket_t router(zmq_context(), zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(opt_.endpoint);
  log::info("coordinator.listening", {{"endpoint", opt_.endpoint}});

  // Plan once; a restarted coordinator finds it in Redis and resumes.
  Micros plan_created = 0;
  for (;;) {
    if (stop) return 0;
    auto exists = store.plan_exists();
    if (!exists) {
      log::warn("coordinator.redis_unavailable", {{"error", exists.error()}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (!exists.value()) {
      auto parts = plan_partitions(
          {config_.etp_traffic_types, config_.etp_backfill_days, config_.fetchers, now_micros()});
      auto ok = store.create_plan(parts, now_micros());
      if (!ok) continue;
      log::info("coordinator.planned", {{"partitions", parts.size()}, {"days", config_.etp_backfill_days}});
    }
    plan_created = store.plan_created().value_or(now_micros());
    break;
  }
  store.clear_fatal();

  const Micros ttl = static_cast<Micros>(opt_.lease_ttl_s) * kMicrosPerSecond;
  // Leases held when we (re)started get one full TTL of grace: their owners may simply not have reached us
  // yet.
  if (auto parts = store.partitions()) {
    for (auto& p : parts.value()) {
      if (p.state == "leased") {
        p.lease_expiry_us = now_micros() + ttl;
        (void)store.save_lease(p);
      }
    }
  }

  Micros next_progress = 0, next_gauges = 0;
  Budget budget(redis, BudgetOptions{config_.etp_rate_limit_per_min, 61'000, "etp:budget:"}, "coordinator");
  bool was_complete = false;
  while (!stop) {
    auto msg = receive_message(router, std::chrono::milliseconds(200), true);
    auto parts_r = store.partitions();
    if (!parts_r) {
      log::warn("coordinator.redis_unavailable", {{"error", parts_r.error()}});
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    auto& parts = parts_r.value();
    Micros now = now_micros();

    for (auto& p : parts) {
      if (p.state == "leased" && p.lease_expiry_us < now) {
        log::warn("coordinator.lease_expired", {{"partition", p.id}, {"owner", p.owner}, {"epoch", p.epoch}});
        ++expired_;
        Metrics::get().leases("expired").Increment();
        p.state = p.live() && p.caught_up_us > 0 ? "live" : "pending";
        p.owner.clear();
        p.epoch += 1;  // results of the expired epoch are refused from now on
        (void)store.save_lease(p);
      }
    }

    if (msg) {
      const auto& b = msg->body;
      std::string worker = b.value("worker", std::string());
      auto find = [&](const std::string& id) -> Partition* {
        for (auto& p : parts) {
          if (p.id == id) return &p;
        }
        return nullptr;
      };
      if (msg->type == "want_work") {
        // Bounded partitions first, in time order; live partitions when due.
        Partition* pick = nullptr;
        for (auto& p : parts) {
          if (p.state == "pending") {
            pick = &p;
            break;
          }
        }
        if (!pick) {
          for (auto& p : parts) {
            if (p.state == "live" && p.next_due_us <= now && (!pick || p.next_due_us < pick->next_due_us))
              pick = &p;
          }
        }
        if (pick) {
          pick->state = "leased";
          pick->owner = worker;
          pick->epoch += 1;
          pick->lease_expiry_us = now + ttl;
          if (store.save_lease(*pick)) {
            Metrics::get().leases("granted").Increment();
            nlohmann::json lease = {{"partition", pick->id},
                                    {"epoch", pick->epoch},
                                    {"traffic_type", pick->traffic_type},
                                    {"start_us", pick->start_us},
                                    {"cursor", pick->cursor},
                                    {"live", pick->live()},
                                    {"caught_up_us", pick->caught_up_us},
                                    {"sweep_cursor", pick->sweep_cursor}};
            if (pick->end_us) lease["end_us"] = *pick->end_us;
            send_message(router, "lease", lease, msg->identity);
            log::debug("coordinator.leased",
                       {{"partition", pick->id}, {"worker", worker}, {"epoch", pick->epoch}});
          }
        } else {
          send_message(router, "no_work", {{"retry_ms", 250}}, msg->identity);
        }
      } else if (msg->type == "heartbeat" || msg->type == "release" || msg->type == "done" ||
                 msg->type == "abandon") {
        Partition* p = find(b.value("partition", std::string()));
        long long epoch = b.value("epoch", -1LL);
        if (!p || p->epoch != epoch || p->state != "leased") {
          if (msg->type == "heartbeat")
            send_message(router, "lease_lost", {{"partition", b.value("partition", "")}}, msg->identity);
        } else if (msg->type == "heartbeat") {
          p->lease_expiry_us = now + ttl;
          (void)store.save_lease(*p);
        } else if (msg->type == "abandon") {
          Metrics::get().leases("abandoned").Increment();
          // Given back unfinished (stopping, or a page not delivered): redone from its committed cursor.
          p->owner.clear();
          p->epoch += 1;
          p->state = p->live() && p->caught_up_us > 0 ? "live" : "pending";
          p->next_due_us = now;
          (void)store.save_lease(*p);
        } else {
          Metrics::get().leases(msg->type == "done" ? "done" : "released").Increment();
          p->owner.clear();
          p->state = msg->type == "done" ? "done" : "live";
          p->next_due_us = now + opt_.poll_interval_us;
          (void)store.save_lease(*p);
        }
      } else if (msg->type == "fatal") {
        store.set_fatal(b.value("message", std::string("unknown fatal error")));
      }
    }

    Progress pr;
    for (const auto& p : parts) {
      pr.delivered += p.delivered;
      if (p.live()) {
        ++pr.live_total;
        if (p.caught_up_us > 0) ++pr.live_caught_up;
      } else {
        ++pr.bounded_total;
        if (p.state == "done") ++pr.bounded_done;
      }
    }
    complete_ = pr.backfill_complete();
    if (complete_ && !was_complete) {
      log::info("coordinator.backfill_complete", {{"delivered", pr.delivered}, {"partitions", parts.size()}});
      was_complete = true;
    }
    if (now >= next_gauges) {
      next_gauges = now + kMicrosPerSecond;
      publish_gauges(parts, plan_created, now, budget, config_.etp_rate_limit_per_min,
                     store.fatal().has_value());
    }
    if (now >= next_progress) {
      next_progress = now + opt_.progress_every_s * kMicrosPerSecond;
      for (const auto& line : describe_progress(parts, plan_created, now)) {
        if (line["state"] != "done" || !was_complete) log::info("progress", line);
      }
    }
  }
  return 0;
}

}  // namespace etp2s
