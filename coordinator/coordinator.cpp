#include "coordinator/coordinator.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <unistd.h>

#include "common/budget.h"
#include "common/fingerprint.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/protocol.h"
#include "common/timefmt.h"
#include "sources/lookups.h"

namespace etp2s {

std::vector<Partition> plan_partitions(const std::vector<std::string>& sources, const PlanWindow& window,
                                       const Config& config) {
  std::vector<Partition> out;
  for (const auto& name : sources) {
    auto source =
        make_source(name, SourceContext{config, nullptr, row_limits_for_mode(config.sentinel_mode)});
    if (!source) continue;  // load_config refuses unknown sources; a test may plan for none
    for (auto& p : source->plan(window)) out.push_back(std::move(p));
  }
  return out;
}

namespace {
// What a partition has delivered up to: a done one its end; a caught-up head its last successful poll.
Micros known_until(const Partition& p) {
  if (p.state == PartitionState::Done && p.end_us) return *p.end_us;
  Micros at = std::max(p.start_us, cursor_time(p.cursor).value_or(p.start_us));
  return p.live() && p.caught_up_us > 0 ? std::max(at, p.caught_up_us) : at;
}
}  // namespace

std::map<std::pair<std::string, std::string>, Micros> complete_until(const std::vector<Partition>& parts) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<const Partition*>> chains;
  for (const auto& p : parts) {
    if (lookup_queue_of(p.source).empty()) chains[{p.source, p.traffic_type, p.domain}].push_back(&p);
  }
  std::map<std::pair<std::string, std::string>, Micros> out;
  for (auto& [key, chain] : chains) {
    std::sort(chain.begin(), chain.end(), [](auto* a, auto* b) { return a->start_us < b->start_us; });
    Micros at = chain.front()->start_us;
    for (const Partition* p : chain) {
      at = known_until(*p);
      if (p->state != PartitionState::Done) break;
    }
    auto [it, fresh] = out.try_emplace({std::get<0>(key), std::get<1>(key)}, at);
    if (!fresh) it->second = std::min(it->second, at);
  }
  return out;
}

double done_ratio(const Partition& p, Micros now_us) {
  if (p.state == PartitionState::Done) return 1.0;
  Micros end = p.end_us ? *p.end_us : std::max(now_us, p.start_us + 1);
  auto cursor = cursor_time(p.cursor).value_or(p.start_us);
  return std::clamp(
      static_cast<double>(cursor - p.start_us) / static_cast<double>(std::max<Micros>(1, end - p.start_us)),
      0.0, 1.0);
}

nlohmann::json describe_progress(const std::vector<Partition>& parts, Micros now_us,
                                 const std::map<std::string, ProgressView::Rate>& rates) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : parts) {
    if (!lookup_queue_of(p.source).empty()) continue;  // lookups are reported by describe_lookups
    nlohmann::json j = {{"partition", p.id},
                        {"traffic_type", p.traffic_type},
                        {"state", state_name(p.state)},
                        {"done_ratio", done_ratio(p, now_us)},
                        {"cursor", p.cursor},
                        {"delivered", p.delivered},
                        {"epoch", p.epoch},
                        {"owner", p.owner}};
    if (auto r = rates.find(p.id); r != rates.end()) {
      j["alerts_per_s"] = r->second.rows_per_s;
      j["eta_s"] = r->second.eta_s;
    }
    if (p.live()) {
      j["lag_s"] = static_cast<double>(now_us - known_until(p)) / kMicrosPerSecond;
      j["caught_up"] = p.caught_up_us > 0;
    }
    out.push_back(j);
  }
  return out;
}

std::vector<Micros> split_points(Micros from, Micros end, int pieces, Micros min_span_us,
                                 std::optional<Micros> first_cut) {
  std::vector<Micros> out;
  if (end <= from || pieces < 2) return out;
  auto whole_second = [](Micros at) {
    return at - ((at % kMicrosPerSecond) + kMicrosPerSecond) % kMicrosPerSecond;
  };
  // The holder's share when it is shorter than an equal one: the rest is cut among the other pieces.
  if (first_cut && pieces > 1) {
    Micros at = whole_second(*first_cut);
    if (at - from >= min_span_us && end - at >= min_span_us && at < from + (end - from) / pieces) {
      out.push_back(at);
      for (Micros c : split_points(at, end, pieces - 1, min_span_us, std::nullopt)) out.push_back(c);
      return out;
    }
  }
  pieces = static_cast<int>(std::min<Micros>(pieces, (end - from) / std::max<Micros>(1, min_span_us)));
  for (int i = 1; i < pieces; ++i) {
    Micros at = whole_second(from + (end - from) / pieces * i);
    Micros after = out.empty() ? from : out.back();
    if (at - after >= min_span_us && end - at >= min_span_us) out.push_back(at);
  }
  return out;
}

nlohmann::json describe_lookups(Redis& redis, const std::string& prefix, const Config& config) {
  nlohmann::json out = nlohmann::json::array();
  StateStore store(redis, prefix);
  auto off = store.disabled_sources();
  for (const auto& source : config.sources) {
    std::string name = lookup_queue_of(source);
    if (name.empty()) continue;
    auto st = LookupQueue(redis, prefix, name, config.etp_lookup_queue_max).stats();
    if (!st) continue;
    const QueueStats& q = st.value();
    nlohmann::json j = {{"queue", name},
                        {"source", source},
                        {"waiting", q.length},
                        {"drained_per_min", q.drained_per_min},
                        {"dropped_when_full", q.dropped},
                        {"not_found", q.not_found}};
    j["eta_s"] = q.length == 0 ? 0.0 : q.drained_per_min > 0 ? 60.0 * q.length / q.drained_per_min : -1.0;
    if (off && off->count(source)) j["switched_off"] = off->at(source);
    out.push_back(j);
  }
  return out;
}

// The numbers behind the live view of `backfill` and `run` for a person (LOG_FORMAT=text, on a terminal
// redrawn in place) and the overall progress metrics: per stream the share of its window done, rows
// delivered, the rate and ETA over the last minute; in steady state the lag.
void ProgressView::update(const std::vector<Partition>& parts, Micros now) {
  streams_.clear();
  Sample stream_now, part_now;
  for (const auto& p : parts) {
    if (!lookup_queue_of(p.source).empty()) continue;
    const double ratio = done_ratio(p, now);
    part_now[p.id] = {ratio, p.delivered, p.end_us.value_or(0)};
    Stream& s = streams_[p.source];
    s.delivered += p.delivered;
    if (p.live()) {
      s.lag_s = std::max(s.lag_s, static_cast<double>(now - known_until(p)) / kMicrosPerSecond);
      s.caught_up = s.caught_up && p.caught_up_us > 0;
      if (p.caught_up_us > 0) {
        part_now[p.id].share = 1.0;  // caught up: nothing of the backfill left
        continue;
      }
    }
    // A head still catching up is part of the backfill: its window up to now.
    auto span = static_cast<double>(p.end_us.value_or(std::max(now, p.start_us + 1)) - p.start_us);
    s.span += span;
    s.done += ratio * span;
    s.bounded = true;
  }
  for (auto& [name, s] : streams_) {
    s.share = s.span > 0 ? s.done / s.span : 1.0;
    stream_now[name] = {s.share, s.delivered, 0};
  }
  history_.emplace_back(now, stream_now, part_now);
  while (history_.size() > 1 && std::get<0>(history_.front()) < now - 60 * kMicrosPerSecond)
    history_.pop_front();
  for (auto& [name, s] : streams_) {
    auto r = rate(false, name, stream_now[name], now);
    s.rows_per_s = r.rows_per_s;
    s.eta_s = r.eta_s;
  }
  partitions_.clear();
  for (const auto& [id, at] : part_now) partitions_[id] = rate(true, id, at, now);
}

ProgressView::Rate ProgressView::rate(bool partition, const std::string& name, const Point& at,
                                      Micros now) const {
  const bool done = at.share >= 1.0;
  // A partition that appeared within the minute (a split piece, a new head) is measured from its first
  // sample.
  for (const auto& sample : history_) {
    const auto& points = partition ? std::get<2>(sample) : std::get<1>(sample);
    auto then = points.find(name);
    if (then == points.end() || then->second.end != at.end) continue;
    const double window_s = static_cast<double>(now - std::get<0>(sample)) / kMicrosPerSecond;
    if (window_s < 1.0) break;  // nothing measured yet
    const double share_rate = (at.share - then->second.share) / window_s;
    return {static_cast<double>(at.delivered - then->second.delivered) / window_s,
            done             ? 0.0
            : share_rate > 0 ? (1.0 - at.share) / share_rate
                             : -1.0};
  }
  return {0, done ? 0.0 : -1.0};
}

nlohmann::json ProgressView::to_json(Micros now) const {
  nlohmann::json streams = nlohmann::json::object(), parts = nlohmann::json::object();
  for (const auto& [name, s] : streams_) {
    streams[name] = {{"share", s.share}, {"delivered", s.delivered}, {"rows_per_s", s.rows_per_s},
                     {"eta_s", s.eta_s}, {"caught_up", s.caught_up}, {"backfilling", s.bounded},
                     {"lag_s", s.lag_s}};
  }
  for (const auto& [id, r] : partitions_) parts[id] = {{"rows_per_s", r.rows_per_s}, {"eta_s", r.eta_s}};
  return {{"measured_at_us", now}, {"streams", streams}, {"partitions", parts}};
}

std::vector<std::string> ProgressView::lines(const nlohmann::json& lookups,
                                             const std::map<std::string, std::string>& routes, Budget& budget,
                                             int limit) const {
  auto duration = [](double s) {
    char buf[32];
    if (s < 90)
      std::snprintf(buf, sizeof buf, "%.0fs", s);
    else if (s < 5400)
      std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", std::floor(s / 60), std::fmod(s, 60));
    else
      std::snprintf(buf, sizeof buf, "%.0fh%02.0fm", std::floor(s / 3600), std::fmod(s, 3600) / 60);
    return std::string(buf);
  };
  std::vector<std::string> out;
  for (const auto& [name, s] : streams_) {
    char line[256];
    std::snprintf(line, sizeof line, "%-14s %5.1f%% done  %9lld rows  %7.1f rows/s", name.c_str(),
                  100.0 * s.share, s.delivered, s.rows_per_s);
    std::string text = line;
    if (s.share < 1.0) text += s.eta_s >= 0 ? "  ETA " + duration(s.eta_s) : "  ETA -";
    if (s.lag_s >= 0 && (!s.bounded || s.share >= 1.0))
      text += s.caught_up ? "  live, lag " + duration(std::max(0.0, s.lag_s)) : "  catching up";
    if (auto r = routes.find(name); r != routes.end())
      text += "  " + r->second + " " + std::to_string(budget.used(r->second)) + "/" + std::to_string(limit) +
              " req/min";
    out.push_back(text);
  }
  for (const auto& q : lookups) {
    char line[256];
    std::snprintf(line, sizeof line, "%-14s %9lld waiting  %7.1f/min drained",
                  q["source"].get<std::string>().c_str(), q["waiting"].get<long long>(),
                  q["drained_per_min"].get<double>());
    std::string text = line;
    if (q.contains("switched_off")) text += "  switched off: " + q["switched_off"].get<std::string>();
    out.push_back(text);
  }
  auto t = log::troubles();
  out.push_back("warnings " + std::to_string(t.warnings) + ", errors " + std::to_string(t.errors) +
                (t.last.empty() ? "" : " (last: " + t.last + ")"));
  return out;
}

namespace {
void publish_gauges(const std::vector<Partition>& parts, const ProgressView& view, Micros now, Budget& budget,
                    const std::vector<std::string>& routes, int limit, bool fatal) {
  auto& m = Metrics::get();
  for (const auto& line : describe_progress(parts, now, view.partitions())) {
    const std::string id = line["partition"];
    m.partition_progress(id).Set(line["done_ratio"].get<double>());
    m.partition_eta(id).Set(line.value("eta_s", -1.0));
  }
  for (const auto& route : routes) {
    long long used = budget.used(route);
    if (used >= 0) m.budget_used(route).Set(static_cast<double>(used));
    m.budget_limit(route).Set(limit);
  }
  m.fatal().Set(fatal ? 1 : 0);
  std::map<std::string, double> by_state{{"pending", 0}, {"leased", 0}, {"done", 0}, {"live", 0}};
  for (const auto& p : parts) by_state[std::string(state_name(p.state))] += 1;
  for (const auto& [state, n] : by_state) m.partitions(state).Set(n);
}

constexpr auto kReceiveSlice = std::chrono::milliseconds(200);
constexpr auto kRedisRetry = std::chrono::milliseconds(500);
constexpr int kNoWorkRetryMs = 250;
// Adaptive partitions: a remainder is split only if each piece spans at least a minute and the estimate of
// what is left is at least two pages; at most 8 pieces at once. A fetcher counts as idle for 3 s after it
// asked for work and got no backfill work; a holder asked to yield gets 60 s.
constexpr Micros kMinSplitSpanUs = 60 * kMicrosPerSecond;
constexpr double kMinSplitRows = 400;
constexpr double kMaxPieces = 8;
constexpr double kHolderRows = 2000;  // ten pages: what a split leaves its holder, at the density it has read
constexpr Micros kIdleForgetUs = 3 * kMicrosPerSecond;
constexpr Micros kYieldWaitUs = 60 * kMicrosPerSecond;  // longer than a tie read or a retry backoff
constexpr long long kWaitingWithinMs = 1'500;  // a fetcher told to wait asks again at least every second
constexpr Micros kSaturatedForUs = 3 * kMicrosPerSecond;
constexpr Micros kLookupRetryUs = 100'000;  // a drain lease released with work waiting: due again soon
constexpr Micros kSummaryEveryUs = 300 * kMicrosPerSecond;  // steady state: one progress line per 5 minutes
constexpr int kProgressTtlS = 10;  // `status` shows a coordinator's measurement only while it is this fresh
// The coordinator lock: held while serving, renewed every second; a standby takes over within this long of a
// holder that died without releasing it.
constexpr Micros kLockTtlUs = 10 * kMicrosPerSecond;

// A name for this coordinator, unique across hosts, processes and coordinators of one process (tests).
std::string coordinator_holder_id() {
  static std::atomic<int> seq{0};
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  std::random_device rd;  // containers may share a host name and a pid (1): a nonce keeps the names apart
  char nonce[9];
  std::snprintf(nonce, sizeof nonce, "%08x", rd());
  return std::string(host) + ":" + std::to_string(getpid()) + ":coordinator-" + std::to_string(++seq) + ":" +
         nonce;
}

// The coordinator's loop, one named step at a time. All state is in Redis: this object only caches the
// partitions for the duration of one message.
class Scheduler {
 public:
  Scheduler(const Config& c, const CoordinatorOptions& o, const std::atomic<bool>& stop, Redis& redis)
      : c_(c),
        o_(o),
        stop_(stop),
        store_(redis),
        budget_(redis, BudgetOptions{c.etp_rate_limit_per_min}, "coordinator"),
        ttl_(static_cast<Micros>(o.lease_ttl_s) * kMicrosPerSecond),
        router_(make_socket(zmq::socket_type::router)),
        redis_(redis) {
    for (const auto& name : c.sources) {
      auto src = make_source(name, SourceContext{c, nullptr, row_limits_for_mode(c.sentinel_mode)});
      if (!src) continue;
      if (std::find(routes_.begin(), routes_.end(), src->route()) == routes_.end())
        routes_.push_back(src->route());
      sources_[name] = {src->route(), src->lookup(), src->poll_interval(),
                        std::shared_ptr<Source>(std::move(src))};
    }
  }

  // Binds, plans (or resumes the plan in Redis), then serves until stop. Returns a process exit code.
  int run(std::atomic<bool>& complete, std::atomic<long long>& expired) {
    if (auto bound = bind_secured(router_, o_.endpoint, c_.zmq, zap_); !bound) {
      log::error("coordinator.cannot_listen", {{"error", bound.error()}});
      return 2;
    }
    log::info("coordinator.listening", {{"endpoint", o_.endpoint}, {"curve", c_.zmq.server_keys()}});
    if (!lead()) return 0;
    if (!plan_or_resume()) {
      release_lead();
      return refused_rc_;
    }
    store_.clear_fatal();
    store_.clear_disabled_sources();
    grace_for_held_leases();
    while (!stop_) {
      if (!keep_lead() && !lead()) break;
      auto m = receive(router_, kReceiveSlice, true);
      auto parts = store_.partitions();
      if (!parts) {
        publish_lag(now_micros());  // from what was known: the lag rises while Redis is away
        log::warn("coordinator.redis_unavailable", {{"error", parts.error()}});
        std::this_thread::sleep_for(kRedisRetry);
        continue;
      }
      Micros now = now_micros();
      expired += expire_leases(parts.value(), now);
      if (m) handle(*m, parts.value(), now);
      complete = track_completion(parts.value());
      report(parts.value(), now);
    }
    return release_lead();
  }

 private:
  // Stands by until this coordinator holds the lock (one coordinator per plan, however many instances run);
  // fetchers that ask meanwhile are told to wait. False: stopped while standing by.
  bool lead() {
    bool said = false;
    while (!stop_) {
      auto held = store_.hold_coordinator_lock(holder_, kLockTtlUs);
      if (held && held.value()) {
        lock_renewed_ = now_micros();
        log::info("coordinator.leading", {{"holder", holder_}});
        return true;
      }
      if (!said) {
        log::warn("coordinator.standby",
                  {{"holder", holder_},
                   {"serving", store_.coordinator_lock_holder().value_or("")},
                   {"why", held ? "another coordinator serves this plan" : held.error()}});
        said = true;
      }
      auto m = receive(router_, std::chrono::milliseconds(500), true);
      if (m && m->message.kind == Kind::WantWork) send(router_, msg(NoWork{1000}), m->identity);
    }
    return false;
  }
  // Renews the lock once a second. False: another coordinator took it over (this one could not renew it for
  // longer than its TTL); this one stands by again.
  bool keep_lead() {
    Micros now = now_micros();
    if (now - lock_renewed_ < kMicrosPerSecond) return true;
    auto held = store_.hold_coordinator_lock(holder_, kLockTtlUs);
    if (!held) return true;  // Redis unreachable: the loop reports it; nobody can take over meanwhile
    if (held.value()) {
      lock_renewed_ = now;
      return true;
    }
    log::error("coordinator.lost_lead",
               {{"holder", holder_}, {"serving", store_.coordinator_lock_holder().value_or("")}});
    return false;
  }
  int release_lead() {
    // A stopped coordinator measures nothing: `status` says so at once (unless another serves by now).
    if (store_.coordinator_lock_holder() == holder_) store_.clear_progress();
    store_.release_coordinator_lock(holder_);
    return 0;
  }

  bool plan_or_resume() {
    while (!stop_) {
      auto exists = store_.plan_exists();
      if (!exists) {
        log::warn("coordinator.redis_unavailable", {{"error", exists.error()}});
        std::this_thread::sleep_for(std::chrono::seconds(1));
        continue;
      }
      if (!exists.value()) {
        auto parts = plan_partitions(
            c_.sources,
            {now_micros(), c_.etp_backfill_days, c_.fetchers, c_.etp_traffic_types, c_.etp_domains}, c_);
        if (!store_.create_plan(parts, now_micros())) continue;
        (void)store_.claim_fingerprint("plan", plan_fingerprint(c_), true);  // a new plan: this one's
        log::info("coordinator.planned", {{"partitions", parts.size()}, {"days", c_.etp_backfill_days}});
      } else if (auto mine = claim_state(store_, "plan", plan_fingerprint(c_), c_, stop_);
                 !mine || !usable(*mine)) {
        refused_rc_ = mine ? 2 : 0;  // made for another configuration (logged); or stopped meanwhile
        return false;
      } else if (!plan_covers_traffic_types()) {
        refused_rc_ = 2;
        return false;
      }
      add_missing_sources();
      return true;
    }
    return false;
  }

  // An adopted plan (PLAN_ADOPT=1) keeps its partitions: a traffic type it has none for would never be read.
  bool plan_covers_traffic_types() {
    auto parts = store_.partitions();
    if (!parts) return true;  // Redis unreachable: the loop reports it; nothing is planned meanwhile
    std::set<std::string> planned;
    for (const auto& p : parts.value()) planned.insert(p.traffic_type);
    for (const auto& t : c_.etp_traffic_types) {
      if (planned.count(t)) continue;
      log::error("coordinator.traffic_type_not_in_plan",
                 {{"traffic_type", t},
                  {"message",
                   "the plan in Redis has no partitions for this traffic type, so it would never be "
                   "read; give this configuration its own Redis database or start over "
                   "(docs/operations.md, \"One state, one configuration\")"}});
      return false;
    }
    return true;
  }

  // A source switched on after the plan was made (ETP_TRACE=all, ETP_QUARANTINE=on, ETP_DETAILS, a week into
  // steady state) gets its partitions now: a paged source over the backfill window back from now, a lookup
  // source its drain partition. Without this it would be configured and silently never read.
  void add_missing_sources() {
    auto parts = store_.partitions();
    if (!parts) return;
    std::vector<std::string> missing;
    for (const auto& [name, info] : sources_) {
      bool present =
          std::any_of(parts->begin(), parts->end(), [&](const Partition& p) { return p.source == name; });
      if (!present) missing.push_back(name);
    }
    auto add = plan_partitions(
        missing, {now_micros(), c_.etp_backfill_days, c_.fetchers, c_.etp_traffic_types, c_.etp_domains}, c_);
    if (add.empty()) return;
    if (auto ok = store_.add_partitions(add); !ok)
      log::warn("coordinator.redis_unavailable", {{"error", ok.error()}});
    else
      log::info("coordinator.sources_added", {{"sources", missing}, {"partitions", add.size()}});
  }

  // Leases held when we (re)started get one full TTL of grace: their owners may simply not have reached us
  // yet.
  void grace_for_held_leases() {
    auto parts = store_.partitions();
    if (!parts) return;
    for (auto& p : parts.value()) {
      if (p.state != PartitionState::Leased) continue;
      p.lease_expiry_us = now_micros() + ttl_;
      (void)store_.save_lease(p);
    }
  }

  long long expire_leases(std::vector<Partition>& parts, Micros now) {
    long long n = 0;
    for (auto& p : parts) {
      if (p.state != PartitionState::Leased || p.lease_expiry_us >= now) continue;
      log::warn("coordinator.lease_expired", {{"partition", p.id}, {"owner", p.owner}, {"epoch", p.epoch}});
      Metrics::get().leases("expired").Increment();
      p.state = p.unleased_state();
      p.owner.clear();
      p.epoch += 1;  // results of the expired epoch are refused from now on
      (void)store_.save_lease(p);
      ++n;
    }
    return n;
  }

  void handle(const Received& r, std::vector<Partition>& parts, Micros now) {
    const Message& m = r.message;
    switch (m.kind) {
      case Kind::WantWork:
        return grant(r.identity, std::get<WantWork>(m.body).worker, parts, now);
      case Kind::Heartbeat:
      case Kind::Done:
      case Kind::Release:
      case Kind::Abandon:
        return on_lease_message(r.identity, m.kind, std::get<LeaseRef>(m.body), parts, now);
      case Kind::Fatal: {
        const auto& f = std::get<FatalReport>(m.body);
        store_.set_fatal(fatal_code::known(f.code), f.message);
        return;
      }
      default:
        Metrics::get().protocol_refused("unexpected").Increment();
        log::warn("coordinator.unexpected_message", {{"kind", kind_name(m.kind)}});
    }
  }

  bool is_lookup(const Partition& p) const {
    auto it = sources_.find(p.source);
    return it != sources_.end() && it->second.lookup;
  }

  // Paging first: pending partitions in plan order, then live partitions when due (the most overdue first);
  // lookup drains only when no paging work is waiting. Sources switched off (or no longer configured) are
  // skipped.
  Partition* pick(std::vector<Partition>& parts, Micros now) {
    auto off = store_.disabled_sources();
    auto usable = [&](const Partition& p) {
      return sources_.count(p.source) && !(off && off->count(p.source));
    };
    for (auto& p : parts) {
      if (usable(p) && !is_lookup(p) && p.state == PartitionState::Pending) return &p;
    }
    Partition* best = nullptr;
    for (bool lookups : {false, true}) {
      for (auto& p : parts) {
        bool waiting = p.state == PartitionState::Live || (lookups && p.state == PartitionState::Pending);
        if (usable(p) && is_lookup(p) == lookups && waiting && p.next_due_us <= now &&
            (!best || p.next_due_us < best->next_due_us))
          best = &p;
      }
      if (best) return best;
    }
    return nullptr;
  }

  // Steady state: when lookups share a route with live partitions, polling leaves them part of the route's
  // budget: a third while their queue is empty (60/min: 2 traffic types polled every 3 s), half while lookups
  // wait (every 4 s, ~30 lookups/min), so that a steady 20 new alerts a minute do not outgrow the drain.
  Micros poll_interval(const Partition& p, const std::vector<Partition>& parts) {
    auto route = sources_.find(p.source);
    if (route == sources_.end()) return o_.poll_interval_us;
    const Micros least = std::max(o_.poll_interval_us, route->second.poll_interval);
    bool shared = false, waiting = false;
    long long live = 0;
    for (const auto& [name, info] : sources_) {
      if (!info.lookup || info.route != route->second.route) continue;
      shared = true;
      waiting = waiting || waiting_lookups_[name] > 0;
    }
    for (const auto& q : parts) {
      auto it = sources_.find(q.source);
      if (it != sources_.end() && !it->second.lookup && it->second.route == route->second.route && q.live())
        ++live;
    }
    if (c_.etp_backfill_poll_s > 0 && backfilling(route->second.route, parts))
      return std::max(least, static_cast<Micros>(c_.etp_backfill_poll_s) * kMicrosPerSecond);
    if (!shared) return least;
    double share_per_min = std::max(1.0, c_.etp_rate_limit_per_min * (waiting ? 0.5 : 2.0 / 3.0));
    auto interval = static_cast<Micros>(static_cast<double>(live) * 60.0 * kMicrosPerSecond / share_per_min);
    return std::max(least, interval);
  }

  // A bounded partition on this route is still to be read (of a source that is on): every head poll would
  // take a request from the backfill, so the head is polled every ETP_BACKFILL_POLL_S meanwhile.
  bool backfilling(const std::string& route, const std::vector<Partition>& parts) {
    auto off = store_.disabled_sources();
    return std::any_of(parts.begin(), parts.end(), [&](const Partition& q) {
      auto it = sources_.find(q.source);
      return it != sources_.end() && it->second.route == route && !it->second.lookup && !q.live() &&
             q.state != PartitionState::Done && !(off && off->count(q.source));
    });
  }

  void grant(const std::string& identity, const std::string& worker, std::vector<Partition>& parts,
             Micros now) {
    Partition* p = pick(parts, now);
    // A fetcher with no backfill work to do (nothing, a head poll, a lookup drain) is idle: the busiest
    // partition is asked to share its unread remainder.
    bool backfill_work = p && !is_lookup(*p) && !(p->live() && p->caught_up_us > 0);
    if (backfill_work) {
      idle_.erase(worker);
    } else {
      idle_[worker] = now;
      ask_to_yield(parts, now);
    }
    if (!p) {
      send(router_, msg(NoWork{kNoWorkRetryMs}), identity);
      return;
    }
    p->state = PartitionState::Leased;
    p->owner = worker;
    p->epoch += 1;
    p->lease_expiry_us = now + ttl_;
    granted_at_[p->id] = now;
    if (!store_.save_lease(*p)) return;  // no answer: the fetcher asks again
    Metrics::get().leases("granted").Increment();
    send(router_,
         msg(LeaseGrant{p->id, p->epoch, p->source, p->traffic_type, p->start_us, p->end_us, p->cursor,
                        p->sweep_cursor, p->caught_up_us, p->domain}),
         identity);
    log::debug("coordinator.leased", {{"partition", p->id}, {"worker", worker}, {"epoch", p->epoch}});
  }

  void on_lease_message(const std::string& identity, Kind kind, const LeaseRef& ref,
                        std::vector<Partition>& parts, Micros now) {
    Partition* p = nullptr;
    for (auto& q : parts) {
      if (q.id == ref.partition) p = &q;
    }
    // Only the lease holder, with the current epoch, may renew or end a lease.
    if (!p || p->epoch != ref.epoch || p->state != PartitionState::Leased || p->owner != ref.worker) {
      if (kind == Kind::Heartbeat) send(router_, msg(Kind::LeaseLost, ref), identity);
      return;
    }
    auto yield = yielding_.find(p->id);
    bool yielding = yield != yielding_.end() && yield->second.epoch == p->epoch;
    int pieces = yielding ? yield->second.pieces : 0;
    if (kind == Kind::Heartbeat) {
      p->lease_expiry_us = now + ttl_;
      if (yielding) send(router_, msg(Kind::Yield, ref), identity);
    } else if (kind == Kind::Abandon) {
      Metrics::get().leases("abandoned").Increment();
      // Given back unfinished (stopping, or a page not delivered): redone from its committed cursor, at once.
      p->epoch += 1;
      p->state = p->unleased_state();
      p->next_due_us = now;
    } else if (is_lookup(*p)) {
      Metrics::get().leases("released").Increment();
      p->state = PartitionState::Live;  // a drain ends when the queue is empty or paging needs the budget
      p->next_due_us = now + (waiting_lookups_[p->source] > 0 ? kLookupRetryUs : kMicrosPerSecond);
    } else {
      Metrics::get().leases(kind == Kind::Done ? "done" : "released").Increment();
      p->state = kind == Kind::Done ? PartitionState::Done : PartitionState::Live;
      // The poll interval is a period from grant to grant: the time the poll itself took (the request, the
      // delivery) is not added to every alert's wait.
      auto granted = granted_at_.find(p->id);
      Micros period = poll_interval(*p, parts);
      p->next_due_us = granted == granted_at_.end() ? now + period : std::max(now, granted->second + period);
    }
    if (kind != Kind::Heartbeat) p->owner.clear();
    if (kind != Kind::Heartbeat && yielding) yielding_.erase(yield);
    if (!store_.save_lease(*p)) return;
    if (kind == Kind::Abandon && pieces > 1) split(*p, pieces);
  }

  // --- adaptive partitions --------------------------------------------------------------------------------
  // Asks the holder of the bounded partition with the most left to read to give it back (Kind::Yield, on its
  // next heartbeat), so that its unread remainder is split among the idle fetchers. One split at a time; a
  // holder that does not yield within kYieldWaitUs (an older fetcher) is not asked again for that lease.
  void ask_to_yield(const std::vector<Partition>& parts, Micros now) {
    for (auto it = idle_.begin(); it != idle_.end();)
      it = now - it->second > kIdleForgetUs ? idle_.erase(it) : std::next(it);
    for (auto it = yielding_.begin(); it != yielding_.end();) {
      if (now - it->second.since <= kYieldWaitUs) return;  // one at a time
      not_yielding_.insert(it->first + "#" + std::to_string(it->second.epoch));
      it = yielding_.erase(it);
    }
    // Rows per second of vendor time, over what the bounded partitions have read so far: estimates the
    // remainder of a partition that has committed nothing yet.
    double rows = 0, covered = 0;
    for (const auto& q : parts) {
      if (q.live() || is_lookup(q)) continue;
      Micros at = q.state == PartitionState::Done ? *q.end_us : cursor_time(q.cursor).value_or(q.start_us);
      rows += static_cast<double>(q.delivered);
      covered += static_cast<double>(std::max<Micros>(0, at - q.start_us));
    }
    const Partition* best = nullptr;
    double best_rows = 0;
    // Per route: the partitions being read (the candidates below, counted before one is picked).
    std::map<std::string, int> readers;
    for (const auto& q : parts) {
      auto src = sources_.find(q.source);
      if (q.state == PartitionState::Leased && !(q.live() && q.caught_up_us > 0) && src != sources_.end() &&
          !src->second.lookup)
        ++readers[src->second.route];
    }
    std::map<std::string, bool> saturated;  // per route, asked once
    for (const auto& q : parts) {
      auto src = sources_.find(q.source);
      // Bounded partitions, and a head still catching up (its unread remainder is [cursor, now)).
      if (q.state != PartitionState::Leased || (q.live() && q.caught_up_us > 0) || src == sources_.end() ||
          src->second.lookup || !src->second.source->start_cursor(q.start_us) ||
          not_yielding_.count(q.id + "#" + std::to_string(q.epoch)))
        continue;
      const std::string& route = src->second.route;
      if (!saturated.count(route)) saturated[route] = budget_saturated(route, readers[route], now);
      if (saturated[route]) continue;
      Micros at = std::max(q.start_us, cursor_time(q.cursor).value_or(q.start_us));
      const Micros end = q.end_us.value_or(now - head_margin());
      if (split_points(at, end, 2, kMinSplitSpanUs).empty()) continue;  // too short to cut
      auto left = static_cast<double>(end - at), read = static_cast<double>(at - q.start_us);
      double est = q.delivered > 0 && read > 0 ? static_cast<double>(q.delivered) * left / read
                   : covered > 0               ? rows * left / covered
                                               : kMinSplitRows * 8.0;
      if (est >= kMinSplitRows && est > best_rows) best = &q, best_rows = est;
    }
    if (!best) return;
    int pieces = static_cast<int>(
        std::min<double>({1.0 + static_cast<double>(idle_.size()), kMaxPieces, best_rows / kMinSplitRows}));
    if (pieces < 2) return;
    yielding_[best->id] = {best->epoch, now, pieces};
    Metrics::get().leases("yield_asked").Increment();
    log::info("coordinator.yield_asked", {{"partition", best->id},
                                          {"owner", best->owner},
                                          {"pieces", pieces},
                                          {"estimated_rows_left", static_cast<long long>(best_rows)}});
  }

  // A route whose budget the fetchers at work already over-ask gains nothing from another reader, and a split
  // costs a half-empty page at its boundary: a vendor fast enough that two of them (or the only one) wait for
  // a permit right now. Where nobody waits (a slow vendor) the split goes ahead, also before a reader runs
  // out — so the budget stays used when it does. Unknown (Redis did not answer): not saturated.
  // A waiter leaves the list when granted, so one look can fall between its grant and its next wait: what was
  // seen within the last kSaturatedForUs counts.
  bool budget_saturated(const std::string& route, int readers, Micros now) {
    long long waiting = budget_.waiting(route, kWaitingWithinMs);
    if (waiting >= 2 || (waiting >= 1 && readers <= 1)) saturated_at_[route] = now;
    auto seen = saturated_at_.find(route);
    return seen != saturated_at_.end() && now - seen->second <= kSaturatedForUs;
  }

  // A head still catching up is cut no closer to now than this: the new head's held-back polls re-read
  // ETP_OVERLAP_S before its cursor, and must not reach into a range that a bounded piece may be reading at
  // the same moment (both would pass the dedupe check before either committed); and an alert becoming visible
  // late is then still in the new head's range, not behind a bounded piece that has passed it.
  Micros head_margin() const { return (static_cast<Micros>(c_.etp_overlap_s) + 120) * kMicrosPerSecond; }

  // The yielded partition is pending again with everything read committed: its remainder after the committed
  // cursor becomes `pieces` partitions (the first stays with it), in one step in Redis.
  void split(const Partition& p, int pieces) {
    if (p.state != PartitionState::Pending || (p.live() && p.caught_up_us > 0)) return;
    // A head still catching up: its remainder up to now is cut, and its last piece stays open-ended (the
    // new head); the partition itself ends at the first cut.
    const Micros end = p.end_us.value_or(now_micros() - head_margin());
    Micros from = std::max(p.start_us, cursor_time(p.cursor).value_or(p.start_us));
    // Alerts come in clusters (a campaign): what follows the cursor is probably as dense as what the holder
    // has read. It keeps about kHolderRows at that density; the rest goes to the idle fetchers, so a dense
    // stretch is shared at once instead of halving the remaining time until a cut lands inside it.
    std::optional<Micros> first;
    if (p.delivered > 0 && from > p.start_us) {
      double per_us = static_cast<double>(p.delivered) / static_cast<double>(from - p.start_us);
      first = from + static_cast<Micros>(kHolderRows / per_us);
    }
    auto cuts = split_points(from, end, pieces, kMinSplitSpanUs, first);
    auto src = sources_.find(p.source);
    if (cuts.empty() || src == sources_.end()) return;
    std::vector<Partition> added;
    const std::string base = p.id.substr(0, p.id.find('+'));
    for (std::size_t i = 0; i < cuts.size(); ++i) {
      Partition q;
      q.id = base + "+" + std::to_string(cuts[i] / kMicrosPerSecond);
      q.source = p.source;
      q.traffic_type = p.traffic_type;
      q.domain = p.domain;
      q.start_us = cuts[i];
      q.end_us = i + 1 < cuts.size() ? std::optional<Micros>(cuts[i + 1]) : p.end_us;
      auto cursor = src->second.source->start_cursor(q.start_us);
      if (!cursor) return;
      q.cursor = *cursor;
      added.push_back(std::move(q));
    }
    auto done = store_.split_partition(p, added);
    if (!done || !done.value()) {
      log::warn("coordinator.split_skipped",
                {{"partition", p.id}, {"why", done ? "it changed meanwhile" : done.error()}});
      return;
    }
    Metrics::get().leases("split").Increment();
    std::vector<std::string> ids;
    for (const auto& q : added) ids.push_back(q.id);
    log::info("coordinator.split", {{"partition", p.id},
                                    {"cursor", p.cursor},
                                    {"now_ends", format_iso_ms(cuts.front())},
                                    {"new_partitions", ids}});
  }

  bool track_completion(const std::vector<Partition>& parts) {
    Progress pr;
    auto off = store_.disabled_sources();
    for (const auto& p : parts) {
      if (is_lookup(p)) continue;  // the backfill does not wait for lookups (`status` shows their queue)
      // Nor for a source no longer configured, or switched off (`backfill` then exits 4 naming it).
      if (!sources_.count(p.source) || (off && off->count(p.source))) continue;
      pr.delivered += p.delivered;
      if (p.live()) {
        ++pr.live_total;
        if (p.caught_up_us > 0) ++pr.live_caught_up;
      } else {
        ++pr.bounded_total;
        if (p.state == PartitionState::Done) ++pr.bounded_done;
      }
    }
    bool complete = pr.backfill_complete();
    if (complete && !was_complete_)
      log::info("coordinator.backfill_complete", {{"delivered", pr.delivered}, {"partitions", parts.size()}});
    was_complete_ = was_complete_ || complete;
    return complete;
  }

  void report(const std::vector<Partition>& parts, Micros now) {
    if (now >= next_gauges_) {
      next_gauges_ = now + kMicrosPerSecond;
      view_.update(parts, now);
      publish_gauges(parts, view_, now, budget_, routes_, c_.etp_rate_limit_per_min,
                     store_.fatal().has_value());
      store_.put_progress(view_.to_json(now), kProgressTtlS);
      release_held_back_heads(parts, now);
      known_.clear();
      auto off = store_.disabled_sources();
      for (const auto& [key, at] : complete_until(parts)) {
        if (sources_.count(key.first) && !(off && off->count(key.first))) known_[key] = at;
      }
      publish_lag(now);
      lookups_ = describe_lookups(redis_, store_.prefix(), c_);
      auto& m = Metrics::get();
      for (const auto& q : lookups_) {
        const std::string name = q["queue"];
        waiting_lookups_[q["source"].get<std::string>()] = q["waiting"].get<long long>();
        m.lookup_queue_length(name).Set(q["waiting"].get<double>());
        m.lookup_drain_per_min(name).Set(q["drained_per_min"].get<double>());
        m.lookup_eta(name).Set(q["eta_s"].get<double>());
        m.source_disabled(q["source"].get<std::string>()).Set(q.contains("switched_off") ? 1 : 0);
      }
      for (const auto& [name, st] : view_.streams()) {
        if (!sources_.count(name)) continue;
        m.backfill_progress(name).Set(st.share);
        m.backfill_eta(name).Set(st.eta_s);
      }
      if (log::format() == log::Format::Text) {
        std::map<std::string, std::string> routes;
        for (const auto& [name, info] : sources_) routes[name] = info.route;
        log::set_status(view_.lines(lookups_, routes, budget_, c_.etp_rate_limit_per_min));
      }
    }
    if (now < next_progress_) return;
    next_progress_ = now + o_.progress_every_s * kMicrosPerSecond;
    if (log::format() == log::Format::Text) return;  // the live view says it
    if (was_complete_) return summarize(now);
    for (const auto& line : describe_progress(parts, now, view_.partitions())) log::info("progress", line);
    for (const auto& q : lookups_) {
      if (q["waiting"].get<long long>() > 0 || q.contains("switched_off")) log::info("progress.lookups", q);
    }
  }

  // Steady state is quiet: what changes is logged where it happens (a lease expired, a retry, a switch); the
  // progress is one summary line every kSummaryEveryUs — rows delivered since the last one, the lag of every
  // stream, the lookups waiting.
  void summarize(Micros now) {
    if (now < next_summary_) return;
    next_summary_ = now + kSummaryEveryUs;
    nlohmann::json lag = nlohmann::json::object(), waiting = nlohmann::json::object();
    long long delivered = 0;
    for (const auto& [name, st] : view_.streams()) delivered += st.delivered;
    for (const auto& [key, at] : known_)
      lag[key.first + "/" + key.second] = static_cast<double>(now - at) / kMicrosPerSecond;
    for (const auto& q : lookups_) waiting[q["queue"].get<std::string>()] = q["waiting"];
    log::info("progress.summary", {{"delivered_since_last", summarized_ < 0 ? 0 : delivered - summarized_},
                                   {"delivered", delivered},
                                   {"lag_s", lag},
                                   {"lookups_waiting", waiting}});
    summarized_ = delivered;
  }

  // A head released while its route's backfill still read was made due ETP_BACKFILL_POLL_S later; once that
  // backfill is done it is due at once, not up to that long after the backfill ends.
  void release_held_back_heads(const std::vector<Partition>& parts, Micros now) {
    for (const auto& route : routes_) {
      const bool reading = backfilling(route, parts);
      if (backfilling_routes_.count(route) && !reading) {
        for (Partition p : parts) {
          auto src = sources_.find(p.source);
          if (p.state != PartitionState::Live || src == sources_.end() || src->second.route != route ||
              p.next_due_us <= now)
            continue;
          p.next_due_us = now;
          (void)store_.save_lease(p);
        }
      }
      if (reading)
        backfilling_routes_.insert(route);
      else
        backfilling_routes_.erase(route);
    }
  }

  void publish_lag(Micros now) {
    for (const auto& [key, at] : known_)
      Metrics::get().cursor_lag(key.first, key.second).Set(static_cast<double>(now - at) / kMicrosPerSecond);
  }

  const Config& c_;
  const CoordinatorOptions& o_;
  const std::atomic<bool>& stop_;
  std::map<std::pair<std::string, std::string>, Micros> known_;  // complete_until of the configured sources
  StateStore store_;
  Budget budget_;
  Micros ttl_;
  std::map<std::string, Micros> granted_at_;  // partition → when its current or last lease was granted
  // Adaptive partitions: workers without backfill work (→ when they last asked), partitions asked to yield,
  // leases ("id#epoch") that did not.
  struct YieldWanted {
    long long epoch = 0;
    Micros since = 0;
    int pieces = 0;
  };
  std::map<std::string, Micros> idle_;
  std::map<std::string, Micros> saturated_at_;  // route → when its budget was last seen over-asked
  std::set<std::string> backfilling_routes_;    // routes whose backfill was still reading at the last report
  std::map<std::string, YieldWanted> yielding_;
  std::set<std::string> not_yielding_;
  std::string holder_ = coordinator_holder_id();
  Micros lock_renewed_ = 0;
  std::shared_ptr<ZapHandler> zap_;  // before router_: the ZAP handler outlives the socket it vets for
  zmq::socket_t router_;
  std::vector<std::string> routes_;
  struct SourceInfo {
    std::string route;
    bool lookup = false;
    Micros poll_interval = 0;  // the source's own least interval between polls (0: none)
    std::shared_ptr<const Source> source;
  };
  std::map<std::string, SourceInfo> sources_;  // the enabled sources
  Redis& redis_;
  nlohmann::json lookups_ = nlohmann::json::array();
  std::map<std::string, long long> waiting_lookups_;
  Micros next_progress_ = 0, next_gauges_ = 0, next_summary_ = 0;
  long long summarized_ = -1;
  ProgressView view_;
  int refused_rc_ = 0;
  bool was_complete_ = false;
};

}  // namespace

Coordinator::Coordinator(const Config& config, CoordinatorOptions options)
    : config_(config), opt_(std::move(options)) {}

int Coordinator::run(const std::atomic<bool>& stop) {
  auto addr = redis_address(config_);
  if (!addr) {
    log::error("coordinator.fatal", {{"error", addr.error()}});
    return 2;
  }
  Redis redis(addr.value());
  return Scheduler(config_, opt_, stop, redis).run(complete_, expired_);
}

}  // namespace etp2s
