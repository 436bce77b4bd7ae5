#include "fetcher/fetcher.h"

#include <algorithm>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "common/backoff.h"
#include "common/budget.h"
#include "common/etp_client.h"
#include "common/log.h"
#include "common/messaging.h"
#include "common/metrics.h"
#include "common/pager.h"
#include "common/state.h"

namespace etp2s {
namespace {

using Clock = std::chrono::steady_clock;

struct Lease {
  std::string partition, traffic_type, cursor, sweep_cursor;
  long long epoch = 0;
  Micros start_us = 0, caught_up_us = 0;
  std::optional<Micros> end_us;
  bool live = false;
};

struct Batch {
  std::string id;
  std::vector<DeliveredVersion> versions;
  nlohmann::json message;    // the ship message (kept for resending)
  std::string cursor;        // committed once this batch and all before it are delivered
  std::string sweep_cursor;  // for sweep batches
  bool caught_up = false;
  bool reported = false;
  bool failed = false;  // not (fully) delivered: never commit past it
  std::string acked_by;
  Clock::time_point sent_at;
  Clock::time_point last_liveness_check;
};

enum class Outcome { Finished, Released, LeaseLost, Stopped, Fatal };

std::shared_ptr<EtpAuth> make_auth(const Config& c) {
  if (!c.etp_uses_oauth()) return std::make_shared<ApiKeyAuth>(c.etp_api_key);
  return std::make_shared<OAuthClientCredentials>(
      OAuthSettings{c.etp_token_url, c.etp_client_id, c.etp_client_secret, c.etp_scopes,
                    HttpOptions{c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle}});
}

class Worker {
 public:
  Worker(const Config& c, const FetcherOptions& o, const std::atomic<bool>& stop)
      : c_(c),
        o_(o),
        stop_(stop),
        redis_(parse_redis_url(c.redis_url, c.redis_ca_bundle).value()),
        store_(redis_),
        budget_(redis_, BudgetOptions{c.etp_rate_limit_per_min, 61'000, "etp:budget:"}, o.worker_id),
        client_({c.etp_base_url,
                 HttpOptions{c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle}},
                make_auth(c)),
        coord_(zmq_context(), zmq::socket_type::dealer),
        ship_(zmq_context(), zmq::socket_type::dealer) {
    for (auto* s : {&coord_, &ship_}) s->set(zmq::sockopt::linger, 0);
    coord_.set(zmq::sockopt::routing_id, o.worker_id);
    coord_.connect(c.coordinator_endpoint);
    ship_.set(zmq::sockopt::routing_id, o.worker_id);
    ship_.connect(c.shipper_endpoint);
    heartbeat_ = std::thread([this] { heartbeat_loop(); });
  }
  ~Worker() {
    hb_stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  int run() {
    Backoff idle(0.2, 2);
    while (!stop_) {
      if (auto f = store_.fatal()) {
        log::error("fetcher.stopping_on_fatal", {{"worker", o_.worker_id}, {"error", *f}});
        return 3;
      }
      send_message(coord_, "want_work", {{"worker", o_.worker_id}});
      auto m = receive_message(coord_, std::chrono::milliseconds(2000), false);
      if (!m || m->type != "lease") {
        int ms = m && m->type == "no_work" ? m->body.value("retry_ms", 250) : 1000;
        std::this_thread::sleep_for(std::chrono::milliseconds(ms));
        continue;
      }
      Lease l = parse_lease(m->body);
      {
        std::lock_guard lock(mu_);
        current_ = l;
        lease_lost_ = false;
      }
      Outcome out = work(l);
      {
        std::lock_guard lock(mu_);
        current_.reset();
      }
      if (out == Outcome::Fatal) return 3;
      std::string type = out == Outcome::Finished ? "done" : out == Outcome::Released ? "release" : "abandon";
      if (out != Outcome::LeaseLost) {
        send_message(coord_, type,
                     {{"worker", o_.worker_id}, {"partition", l.partition}, {"epoch", l.epoch}});
      }
    }
    return 0;
  }

 private:
  static Lease parse_lease(const nlohmann::json& b) {
    Lease l;
    l.partition = b.value("partition", "");
    l.traffic_type = b.value("traffic_type", "inbound");
    l.cursor = b.value("cursor", "");
    l.sweep_cursor = b.value("sweep_cursor", "");
    l.epoch = b.value("epoch", 0LL);
    l.start_us = b.value("start_us", 0LL);
    l.caught_up_us = b.value("caught_up_us", 0LL);
    if (b.contains("end_us")) l.end_us = b["end_us"].get<long long>();
    l.live = b.value("live", false);
    return l;
  }

  void heartbeat_loop() {
    zmq::socket_t hb(zmq_context(), zmq::socket_type::dealer);
    hb.set(zmq::sockopt::linger, 0);
    hb.set(zmq::sockopt::routing_id, o_.worker_id + "/hb");
    hb.connect(c_.coordinator_endpoint);
    while (!hb_stop_) {
      std::optional<Lease> l;
      {
        std::lock_guard lock(mu_);
        l = current_;
      }
      if (l)
        send_message(hb, "heartbeat",
                     {{"worker", o_.worker_id}, {"partition", l->partition}, {"epoch", l->epoch}});
      if (auto m = receive_message(hb, std::chrono::milliseconds(1000), false);
          m && m->type == "lease_lost") {
        std::lock_guard lock(mu_);
        if (current_ && current_->partition == m->body.value("partition", "")) lease_lost_ = true;
      }
    }
  }

  bool lost() {
    std::lock_guard lock(mu_);
    return lease_lost_;
  }

  Outcome work(const Lease& l) {
    in_flight_.clear();
    committed_cursor_ = l.cursor;
    bool head_cycle = l.live && l.caught_up_us > 0;
    PagerOptions po;
    po.traffic_type = l.traffic_type;
    po.size = c_.etp_page_size;
    po.end_us = l.end_us;
    CursorPager pager(po, l.cursor);
    // Steady state: a short head poll (the customer's one-second polling); the backfill pages to the end.
    int max_pages = head_cycle ? 10 : 1 << 30;
    Outcome out = page_through(l, pager, max_pages, false);
    if (out == Outcome::Finished && head_cycle && l.epoch % o_.sweep_every == 0 && c_.etp_overlap_s > 0) {
      out = sweep(l);
    }
    if (out == Outcome::Finished || out == Outcome::Stopped) {
      if (!drain_in_flight(l)) return lost() ? Outcome::LeaseLost : Outcome::Stopped;
    }
    if (out == Outcome::Finished) return l.live ? Outcome::Released : Outcome::Finished;
    return out;
  }

  // The late-arrival sweep: re-read [head - overlap, head) and ship what was never delivered.
  Outcome sweep(const Lease& l) {
    auto head = parse_time(committed_cursor_.empty() ? l.cursor : committed_cursor_);
    if (!head) return Outcome::Finished;
    PagerOptions po;
    po.traffic_type = l.traffic_type;
    po.size = c_.etp_page_size;
    po.end_us = *head;
    std::string from = l.sweep_cursor;
    auto from_t = parse_time(from);
    Micros window_start = *head - static_cast<Micros>(c_.etp_overlap_s) * kMicrosPerSecond;
    if (!from_t || *from_t < window_start || *from_t >= *head) from = format_vendor(window_start);
    CursorPager pager(po, from);
    return page_through(l, pager, 2, true);
  }

  Outcome page_through(const Lease& l, CursorPager& pager, int max_pages, bool sweeping) {
    Backoff backoff(0.5, 30);
    for (int pages = 0; pages < max_pages;) {
      if (stop_) return Outcome::Stopped;
      if (lost()) return Outcome::LeaseLost;
      if (!pump(l, std::chrono::milliseconds(0))) return lost() ? Outcome::LeaseLost : Outcome::Fatal;
      while (in_flight_.size() >= static_cast<std::size_t>(o_.max_in_flight)) {
        if (stop_) return Outcome::Stopped;
        if (!pump(l, std::chrono::milliseconds(200))) return lost() ? Outcome::LeaseLost : Outcome::Fatal;
      }
      if (!budget_.acquire("alerts", Priority::Paging, [&] { return stop_.load() || lost(); })) {
        return stop_ ? Outcome::Stopped : Outcome::LeaseLost;
      }
      auto call_start = Clock::now();
      auto page = client_.summary(pager.next_query());
      auto& m = Metrics::get();
      m.page_seconds().Observe(std::chrono::duration<double>(Clock::now() - call_start).count());
      m.etp_requests("alerts", std::to_string(page ? 200 : page.error().http_status)).Increment();
      if (!page) {
        const EtpError& e = page.error();
        if (e.fatal()) {
          log::error("fetcher.fatal",
                     {{"worker", o_.worker_id}, {"partition", l.partition}, {"error", e.message}});
          store_.set_fatal(e.message);
          send_message(coord_, "fatal", {{"worker", o_.worker_id}, {"message", e.message}});
          return Outcome::Fatal;
        }
        if (e.rate_limited) budget_.pause("alerts", e.retry_after_s.value_or(5.0));
        double wait = backoff.next(e.rate_limited ? std::nullopt : e.retry_after_s);
        log::warn(
            "fetcher.retry",
            {{"worker", o_.worker_id}, {"partition", l.partition}, {"error", e.message}, {"wait_s", wait}});
        sleep_pumping(l, wait);
        continue;
      }
      backoff.reset();
      ++pages;
      for (const auto& r : page->rejected) {
        log::error("fetcher.rejected_record",
                   {{"partition", l.partition}, {"reason", r.reason}, {"excerpt", r.excerpt}});
      }
      PageResult res = pager.accept(page.value());
      if (res.stuck) {
        log::error("fetcher.stuck_cursor", {{"partition", l.partition},
                                            {"at", res.stuck->at},
                                            {"seen", res.stuck->seen},
                                            {"resumed_from", res.stuck->resumed_from}});
        store_.record_gap(l.partition, res.stuck->at, res.stuck->seen);
        m.stuck_cursors().Increment();
      }
      if (!hand_on(l, pager, res, sweeping)) return lost() ? Outcome::LeaseLost : Outcome::Stopped;
      if (res.finished()) return Outcome::Finished;
    }
    return Outcome::Finished;
  }

  bool hand_on(const Lease& l, const CursorPager& pager, PageResult& res, bool sweeping) {
    std::vector<DeliveredVersion> versions;
    for (const auto& a : res.alerts) versions.push_back({version_key(a), a.last_modified_us});
    auto seen = store_.delivered(versions);
    while (!seen) {  // Redis down: we cannot know; wait rather than ship duplicates or lose the page
      log::warn("fetcher.redis_unavailable", {{"error", seen.error()}});
      if (stop_) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      seen = store_.delivered(versions);
    }
    std::size_t already =
        static_cast<std::size_t>(std::count(seen.value().begin(), seen.value().end(), true));
    Metrics::get().duplicates_dropped().Increment(static_cast<double>(already));
    Metrics::get().alerts_fetched(l.traffic_type).Increment(static_cast<double>(res.alerts.size() - already));
    Batch b;
    b.id = o_.worker_id + ":" + std::to_string(++batch_seq_);
    nlohmann::json alerts = nlohmann::json::array();
    for (std::size_t i = 0; i < res.alerts.size(); ++i) {
      if (seen.value()[i]) continue;
      const Alert& a = res.alerts[i];
      b.versions.push_back(versions[i]);
      alerts.push_back({{"key", versions[i].key},
                        {"traffic_type", a.traffic_type},
                        {"raw", a.raw.dump(-1, ' ', false, OrderedJson::error_handler_t::replace)}});
    }
    if (sweeping) {
      b.sweep_cursor =
          res.finished() ? "-" : pager.cursor();  // "-": the sweep reached the head; restart next time
    } else {
      b.cursor = pager.cursor();
      b.caught_up = res.caught_up;
    }
    b.message = {{"batch", b.id}, {"partition", l.partition}, {"epoch", l.epoch}, {"alerts", alerts}};
    if (b.versions.empty()) {
      b.reported = true;
    } else {
      send_message(ship_, "ship", b.message);
      b.sent_at = b.last_liveness_check = Clock::now();
    }
    in_flight_.push_back(std::move(b));
    return commit_ready(l);
  }

  // Reads shipper messages for up to `wait`, resends what no live shipper holds, commits what is ready.
  bool pump(const Lease& l, std::chrono::milliseconds wait) {
    auto deadline = Clock::now() + wait;
    // Read everything already queued before judging any page unacknowledged: acks wait in the socket while
    // this fetcher waits for the budget or the vendor.
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto m = receive_message(
          ship_, std::max(std::chrono::milliseconds(0), std::min(left, std::chrono::milliseconds(50))),
          false);
      if (m) {
        on_shipper_message(*m);
        continue;
      }
      if (Clock::now() >= deadline) break;
    }
    for (auto& b : in_flight_) {
      if (b.reported) continue;
      auto now = Clock::now();
      bool unacked = b.acked_by.empty() && now - b.sent_at > std::chrono::milliseconds(o_.ack_timeout_ms);
      bool orphaned = false;
      if (!b.acked_by.empty() && now - b.last_liveness_check > std::chrono::seconds(2)) {
        b.last_liveness_check = now;
        orphaned = !store_.shipper_is_alive(b.acked_by);
      }
      if (unacked || orphaned) {
        log::warn("fetcher.resend",
                  {{"batch", b.id}, {"reason", unacked ? "not acknowledged" : "shipper gone"}});
        b.acked_by.clear();
        b.sent_at = now;
        send_message(ship_, "ship", b.message);
      }
    }
    if (auto f = store_.fatal()) {
      log::error("fetcher.stopping_on_fatal", {{"worker", o_.worker_id}, {"error", *f}});
      return false;
    }
    return commit_ready(l);
  }

  void on_shipper_message(const Message& m) {
    std::string id = m.body.value("batch", "");
    for (auto& b : in_flight_) {
      if (b.id != id || b.reported) continue;
      if (m.type == "accepted") {
        b.acked_by = m.body.value("shipper", "");
      } else if (m.type == "report") {
        std::set<std::string> ok;
        for (const auto& k : m.body.value("delivered", nlohmann::json::array()))
          ok.insert(k.get<std::string>());
        for (const auto& k : m.body.value("dead_lettered", nlohmann::json::array()))
          ok.insert(k.get<std::string>());
        b.reported = true;
        for (const auto& v : b.versions) b.failed = b.failed || !ok.count(v.key);
        if (b.failed) {
          log::warn("fetcher.batch_not_delivered", {{"batch", id}, {"fatal", m.body.value("fatal", "")}});
        }
      }
    }
  }

  // Commits the reported prefix of the in-flight queue, in order.
  bool commit_ready(const Lease& l) {
    while (!in_flight_.empty() && in_flight_.front().reported) {
      Batch& b = in_flight_.front();
      if (b.failed) {
        // Never commit past an undelivered page: give the partition back; it is redone from the committed
        // cursor.
        in_flight_.clear();
        std::lock_guard lock(mu_);
        lease_lost_ = true;
        return false;
      }
      auto ok = store_.commit(l.partition, l.epoch, b.cursor, b.versions, b.caught_up, b.sweep_cursor);
      if (!ok) {
        log::warn("fetcher.redis_unavailable", {{"error", ok.error()}});
        return true;  // try again on the next pump
      }
      if (!ok.value()) {
        log::warn("fetcher.stale_epoch", {{"partition", l.partition}, {"epoch", l.epoch}});
        std::lock_guard lock(mu_);
        lease_lost_ = true;
        in_flight_.clear();
        return false;
      }
      if (!b.cursor.empty()) committed_cursor_ = b.cursor;
      in_flight_.pop_front();
    }
    return true;
  }

  bool drain_in_flight(const Lease& l) {
    auto deadline = Clock::now() + std::chrono::seconds(o_.drain_timeout_s);
    while (!in_flight_.empty()) {
      // Once asked to stop, wait a bounded time; otherwise as long as shippers are alive and working.
      if (stop_ && Clock::now() > deadline) {
        log::warn("fetcher.drain_timeout", {{"uncommitted_batches", in_flight_.size()}});
        return false;
      }
      if (!pump(l, std::chrono::milliseconds(100))) return false;
    }
    return true;
  }

  void sleep_pumping(const Lease& l, double seconds) {
    auto until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < until && !stop_) (void)pump(l, std::chrono::milliseconds(100));
  }

  const Config& c_;
  const FetcherOptions& o_;
  const std::atomic<bool>& stop_;
  Redis redis_;
  StateStore store_;
  Budget budget_;
  EtpClient client_;
  zmq::socket_t coord_, ship_;
  std::thread heartbeat_;
  std::atomic<bool> hb_stop_{false};
  std::mutex mu_;
  std::optional<Lease> current_;
  bool lease_lost_ = false;
  std::deque<Batch> in_flight_;
  std::string committed_cursor_;
  unsigned long long batch_seq_ = 0;
};

}  // namespace

Fetcher::Fetcher(const Config& config, FetcherOptions options) : config_(config), opt_(std::move(options)) {}

int Fetcher::run(const std::atomic<bool>& stop) {
  if (!parse_redis_url(config_.redis_url, config_.redis_ca_bundle)) {
    log::error("fetcher.fatal", {{"error", "REDIS_URL is not usable"}});
    return 2;
  }
  Worker w(config_, opt_, stop);
  log::info("fetcher.started", {{"worker", opt_.worker_id}});
  int rc = w.run();
  log::info("fetcher.stopped", {{"worker", opt_.worker_id}, {"exit_code", rc}});
  return rc;
}

}  // namespace etp2s
