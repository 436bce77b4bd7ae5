#include "fetcher/fetcher.h"

#include <algorithm>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/backoff.h"
#include "common/budget.h"
#include "common/fingerprint.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/protocol.h"
#include "common/state.h"
#include "common/zmq_security.h"
#include "sources/lookups.h"
#include "sources/source.h"

namespace etp2s {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kLeaseWait{2000};  // how long to wait for the coordinator's answer
constexpr milliseconds kRedisRetry{500};  // Redis unreachable: look again after
constexpr auto kShipperLivenessCheck = std::chrono::seconds(2);
constexpr int kHeadPollPages = 10;  // steady state: pages per one-second head poll
constexpr int kSweepPages = 2;      // steady state: pages per late-arrival sweep
constexpr int kDensePolls =
    20;  // an overlap that did not fit in a page: polls from the head before trying again
constexpr int kLookupsPerLease = 2;  // lookups per drain lease: a lone fetcher is soon back to polling
constexpr double kLookupPermitWaitS =
    3;                                  // a lookup lease waits this long for budget paging leaves, then ends
constexpr double kDefaultPauseS = 5.0;  // a 429 without Retry-After pauses the route this long

// How a lease ends, and what the coordinator is told.
enum class LeaseEnd {
  Done,      // bounded partition read to its end: "done"
  Release,   // live partition polled: "release" (due again in a second)
  GiveBack,  // stopping, or a page not delivered: "abandon" (redone at once from the committed cursor)
  Lost,      // the coordinator moved the lease on: nothing to say
  Fatal,     // the operator must act: recorded, every role stops
};

// A batch of rows handed to a shipper and not yet committed.
struct InFlight {
  Message message;                         // the row batch (kept for resending)
  std::vector<DeliveredVersion> versions;  // its rows' keys and times
  bool carries_position = false;           // the page's last batch: commits cursor / sweep cursor
  std::string cursor, sweep_cursor;
  bool caught_up = false;
  std::vector<Lookup> lookups;    // lookups the page calls for: queued before the commit
  std::vector<Lookup> looked_up;  // queue entries the page answered: leave the queue after the commit
  bool not_found = false;
  bool reported = false;
  bool failed = false;  // not (fully) delivered: never commit past it
  std::string acked_by;
  Clock::time_point sent_at, last_liveness_check;
  const std::string& id() const { return std::get<RowBatch>(message.body).batch; }
};

std::shared_ptr<EtpAuth> make_auth(const Config& c) {
  if (!c.etp_uses_oauth()) return std::make_shared<ApiKeyAuth>(c.etp_api_key);
  return std::make_shared<OAuthClientCredentials>(
      OAuthSettings{c.etp_token_url, c.etp_client_id, c.etp_client_secret, c.etp_scopes,
                    HttpOptions{c.etp_connect_timeout_s * 1000L, c.etp_timeout_s * 1000L, c.etp_ca_bundle}});
}

// Rows of one page grouped by stream and cut into batches that fit a frame.
std::vector<std::pair<std::string, std::vector<Row>>> cut_batches(
    std::map<std::string, std::vector<Row>> by_stream) {
  std::vector<std::pair<std::string, std::vector<Row>>> out;
  for (auto& [stream, rows] : by_stream) {
    std::vector<Row> cur;
    std::size_t bytes = 0;
    for (auto& r : rows) {
      if (!cur.empty() && bytes + r.json.size() > kMaxBatchPayloadBytes) {
        out.emplace_back(stream, std::move(cur));
        cur.clear();
        bytes = 0;
      }
      bytes += r.json.size() + 1;
      cur.push_back(std::move(r));
    }
    if (!cur.empty()) out.emplace_back(stream, std::move(cur));
  }
  return out;
}

class Worker {
 public:
  Worker(const Config& c, const FetcherOptions& o, const std::atomic<bool>& stop)
      : c_(c),
        o_(o),
        stop_(stop),
        redis_(redis_address(c).value()),
        store_(redis_),
        budget_(redis_, BudgetOptions{c.etp_rate_limit_per_min}, o.worker_id),
        client_(std::make_shared<EtpClient>(
            EtpClientOptions{c.etp_base_url, HttpOptions{c.etp_connect_timeout_s * 1000L,
                                                         c.etp_timeout_s * 1000L, c.etp_ca_bundle}},
            make_auth(c))),
        coord_(make_socket(zmq::socket_type::dealer)),
        ship_(make_socket(zmq::socket_type::dealer)) {
    coord_.set(zmq::sockopt::routing_id, o.worker_id);
    ship_.set(zmq::sockopt::routing_id, o.worker_id);
  }

  // Err: an endpoint this fetcher may not use as configured (e.g. beyond loopback without CURVE keys).
  Result<Unit, std::string> connect() {
    for (auto [socket, endpoint] :
         {std::pair{&coord_, &c_.coordinator_endpoint}, {&ship_, &c_.shipper_endpoint}}) {
      if (auto ok = connect_secured(*socket, *endpoint, c_.zmq); !ok) return ok;
    }
    heartbeat_ = std::thread([this] { heartbeat_loop(); });
    return Unit{};
  }
  ~Worker() {
    hb_stop_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
  }

  int run() {
    while (!stop_) {
      if (fatal_recorded()) return 3;
      auto lease = ask_for_lease();
      if (!lease) continue;
      set_current(*lease);
      LeaseEnd end = work(*lease);
      clear_current();
      if (end == LeaseEnd::Fatal) return 3;
      tell_coordinator(*lease, end);
    }
    return 0;
  }

 private:
  // --- leases ---------------------------------------------------------------------------------------------
  std::optional<LeaseGrant> ask_for_lease() {
    send(coord_, msg(WantWork{o_.worker_id}));
    auto r = receive(coord_, kLeaseWait, false);
    if (r && r->message.kind == Kind::Lease) return std::get<LeaseGrant>(r->message.body);
    int wait_ms = r && r->message.kind == Kind::NoWork ? std::get<NoWork>(r->message.body).retry_ms : 1000;
    std::this_thread::sleep_for(milliseconds(wait_ms));
    return std::nullopt;
  }

  void tell_coordinator(const LeaseGrant& l, LeaseEnd end) {
    static const std::map<LeaseEnd, Kind> kSay{{LeaseEnd::Done, Kind::Done},
                                               {LeaseEnd::Release, Kind::Release},
                                               {LeaseEnd::GiveBack, Kind::Abandon}};
    auto it = kSay.find(end);
    if (it != kSay.end()) send(coord_, msg(it->second, LeaseRef{o_.worker_id, l.partition, l.epoch}));
  }

  void set_current(const LeaseGrant& l) {
    std::lock_guard lock(mu_);
    current_ = l;
    lease_lost_ = false;
    yield_asked_ = false;
  }
  void clear_current() {
    std::lock_guard lock(mu_);
    current_.reset();
  }
  void mark_lost() {
    std::lock_guard lock(mu_);
    lease_lost_ = true;
  }
  bool lost() {
    std::lock_guard lock(mu_);
    return lease_lost_;
  }
  // The coordinator asked for the partition back so that idle fetchers can share its unread remainder.
  bool yield_asked() {
    std::lock_guard lock(mu_);
    return yield_asked_;
  }

  void heartbeat_loop() {
    zmq::socket_t hb = make_socket(zmq::socket_type::dealer);
    hb.set(zmq::sockopt::routing_id, o_.worker_id + "/hb");
    (void)connect_secured(hb, c_.coordinator_endpoint, c_.zmq);  // the same endpoint connect() accepted
    while (!hb_stop_) {
      std::optional<LeaseGrant> l;
      {
        std::lock_guard lock(mu_);
        l = current_;
      }
      if (l) send(hb, msg(Kind::Heartbeat, LeaseRef{o_.worker_id, l->partition, l->epoch}));
      auto m = receive(hb, milliseconds(1000), false);
      if (!m || (m->message.kind != Kind::LeaseLost && m->message.kind != Kind::Yield)) continue;
      const auto& ref = std::get<LeaseRef>(m->message.body);
      std::lock_guard lock(mu_);
      // About this lease (the same partition leased again after a yield has a new epoch).
      if (!current_ || current_->partition != ref.partition || current_->epoch != ref.epoch) continue;
      if (m->message.kind == Kind::LeaseLost) lease_lost_ = true;
      if (m->message.kind == Kind::Yield) yield_asked_ = true;
    }
  }

  bool fatal_recorded() {
    auto f = store_.fatal();
    if (f)
      log::error("fetcher.stopping_on_fatal",
                 {{"worker", o_.worker_id}, {"code", f->code}, {"error", f->detail}});
    return f.has_value();
  }

  // --- one lease ------------------------------------------------------------------------------------------
  Source* source_for(const LeaseGrant& l) {
    auto& s = sources_[l.source];
    if (!s)
      s = make_source(l.source, SourceContext{c_, client_, row_limits_for_mode(c_.sentinel_mode), &redis_,
                                              store_.prefix()});
    return s.get();
  }

  LeaseEnd work(const LeaseGrant& l) {
    in_flight_.clear();
    committed_cursor_ = l.cursor;
    Source* source = source_for(l);
    if (!source)
      return fail(fatal_code::kInternal,
                  "no source named '" + l.source + "' in this build (partition " + l.partition + ")", l);
    steps_ = make_enrichments(l.source);
    bool head_poll = l.live() && l.caught_up_us > 0;
    // Steady state: hold the head poll back by the overlap, so that one request also returns what became
    // visible late — unless the overlap held more than a page lately (then: poll from the head, sweep apart).
    int& dense = dense_polls_[l.partition];
    std::optional<ReadScope> held;
    if (head_poll && dense == 0)
      held = source->head_scope(l.traffic_type, l.cursor, overlap_within(l, l.cursor));
    if (held) held->domain = l.domain;
    if (dense > 0) --dense;
    auto reader = source->open(held ? *held : ReadScope{l.traffic_type, l.cursor, l.end_us, {}, l.domain});
    first_page_caught_up_.reset();
    if (!reader)
      return fail(fatal_code::kInternal, "source '" + l.source + "' cannot read partition " + l.partition, l);
    // Steady state: a short head poll (the customer's one-second polling); the backfill pages to the end;
    // a lookup lease takes a few lookups and gives the fetcher back.
    int max_pages = source->lookup() ? kLookupsPerLease : head_poll ? kHeadPollPages : 1 << 30;
    LeaseEnd end = read_pages(l, *source, *reader, held ? 1 : max_pages, false, !held);
    bool overlap_read = held && first_page_caught_up_.value_or(false);
    if (end == LeaseEnd::Done && held && first_page_caught_up_ == false) {
      // The overlap outgrew a page (a burst): one request spent; read on from the head, as without holding
      // back, once what that page handed on is delivered (so that the head read's dedupe sees it).
      dense = kDensePolls;
      log::info("fetcher.overlap_outgrew_a_page",
                {{"partition", l.partition}, {"polls_from_the_head", dense}});
      if (!drain_in_flight(l)) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
      auto plain = source->open(ReadScope{l.traffic_type, l.cursor, l.end_us, {}, l.domain});
      end = read_pages(l, *source, *plain, max_pages - 1, false, true);
    }
    if (end == LeaseEnd::Done && head_poll && !overlap_read && l.epoch % o_.sweep_every == 0)
      end = sweep(l, *source);
    if (end == LeaseEnd::Done || end == LeaseEnd::GiveBack) {
      if (!drain_in_flight(l)) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
    }
    if (end == LeaseEnd::Done && l.live()) return LeaseEnd::Release;
    return end;
  }

  // The steady-state re-read window (ETP_OVERLAP_S) never reaches below the partition's start: a head split
  // off a catching-up head starts at its cut, and what lies before it is a bounded piece another fetcher may
  // be reading at the same moment (both would pass the dedupe check before either committed).
  int overlap_within(const LeaseGrant& l, const std::string& cursor) const {
    auto at = cursor_time(cursor);
    if (!at) return c_.etp_overlap_s;
    return static_cast<int>(
        std::clamp<Micros>((*at - l.start_us) / kMicrosPerSecond, 0, static_cast<Micros>(c_.etp_overlap_s)));
  }

  LeaseEnd sweep(const LeaseGrant& l, Source& source) {
    auto scope = source.sweep_scope(l.traffic_type, committed_cursor_, l.sweep_cursor,
                                    overlap_within(l, committed_cursor_));
    if (!scope) return LeaseEnd::Done;
    scope->domain = l.domain;
    auto reader = source.open(*scope);
    return read_pages(l, source, *reader, kSweepPages, true, false);
  }

  // `may_skip`: a page that never reads may be given up as a recorded gap — only when reading on from the
  // committed cursor. A re-read below it (the held-back poll, a sweep) covers what was read before.
  LeaseEnd read_pages(const LeaseGrant& l, Source& source, PageReader& reader, int max_pages, bool sweeping,
                      bool may_skip) {
    Backoff backoff(0.5, 30);
    int unreadable = 0;   // answers in a row whose body could not be read
    bool in_tie = false;  // a tie read in slices is finished before the partition is given back
    for (int pages = 0; pages < max_pages;) {
      if (auto end = wait_for_room(l)) return *end;
      if ((!l.live() || l.caught_up_us == 0) && !source.lookup() && !in_tie && yield_asked()) {
        // Given back at a page boundary: work() delivers and commits what is in flight first, so the
        // coordinator splits the unread remainder from a committed cursor that covers everything read.
        log::info("fetcher.yielded",
                  {{"worker", o_.worker_id}, {"partition", l.partition}, {"pages", pages}});
        return LeaseEnd::GiveBack;
      }
      if (!reader.has_work()) return LeaseEnd::Done;
      if (!acquire_permit(l, source)) {
        if (stop_) return LeaseEnd::GiveBack;
        return lost() ? LeaseEnd::Lost : LeaseEnd::Done;
      }
      auto page = timed_read(source, reader);
      if (!page) {
        if (page.error().fatal() && source.optional()) return switch_off(source, page.error().message, l);
        if (page.error().fatal())
          return fail(page.error().auth ? fatal_code::kEtpAuth : fatal_code::kEtpRefused,
                      page.error().message, l);
        if (page.error().unreadable && ++unreadable >= c_.etp_unreadable_page_attempts) {
          unreadable = 0;
          if (!may_skip) {
            // The held-back poll reads on from the head instead (as when the overlap outgrows a page); a
            // sweep ends for this lease and is tried again later.
            log::warn("fetcher.unreadable_in_reread", {{"partition", l.partition}, {"sweeping", sweeping}});
            if (!sweeping) first_page_caught_up_ = false;
            return LeaseEnd::Done;
          }
          SourcePage skipped;
          Unreadable step = reader.unreadable(skipped);
          if (step == Unreadable::Narrowed) {
            log::warn("fetcher.unreadable_page_narrowed",
                      {{"partition", l.partition}, {"error", page.error().message}});
            continue;
          }
          if (step == Unreadable::Skipped) {  // not counted as a page: the lease skips on until a page reads
            backoff.reset();
            if (!report_problems(l, source, skipped)) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
            if (!hand_on(l, source, skipped, sweeping)) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
            if (skipped.finished()) return LeaseEnd::Done;
            continue;
          }
        }
        wait_to_retry(l, source, page.error(), backoff);
        continue;
      }
      unreadable = 0;
      backoff.reset();
      ++pages;
      in_tie = page->reading_a_tie;
      // A tie read in slices takes ~17 requests and keeps the cursor on its instant until done: a short lease
      // (a head poll, a sweep) reads it to the end instead of starting it again next time.
      if (page->reading_a_tie && max_pages < (1 << 30)) ++max_pages;
      if (!report_problems(l, source, page.value())) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
      if (!hand_on(l, source, page.value(), sweeping)) return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
      if (pages == 1 && !sweeping) first_page_caught_up_ = page->caught_up;
      if (page->finished()) return LeaseEnd::Done;
    }
    return LeaseEnd::Done;
  }

  // Paging waits for its permit as long as it takes; a lookup takes only what paging leaves, for a bounded
  // time (false: none came; the lease ends and the fetcher goes back to paging work).
  bool acquire_permit(const LeaseGrant& l, const Source& source) {
    if (!source.lookup())
      return budget_.acquire(source.route(), Priority::Paging, [&] { return stop_.load() || lost(); });
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(kLookupPermitWaitS));
    while (!stop_ && !lost() && Clock::now() < until) {
      long long wait_ms = budget_.try_acquire(source.route(), Priority::Enrichment);
      if (wait_ms == 0) return true;
      sleep_pumping(l, static_cast<double>(std::clamp(wait_ms < 0 ? 500LL : wait_ms, 10LL, 500LL)) / 1000);
    }
    return false;
  }

  // Stops, a lost lease, a fatal error elsewhere, or too many pages in flight: wait or say how the lease
  // ends.
  std::optional<LeaseEnd> wait_for_room(const LeaseGrant& l) {
    if (stop_) return LeaseEnd::GiveBack;
    if (lost()) return LeaseEnd::Lost;
    if (!pump(l, milliseconds(0))) return lease_end_after_pump();
    while (in_flight_.size() >= static_cast<std::size_t>(o_.max_in_flight)) {
      if (stop_) return LeaseEnd::GiveBack;
      if (!pump(l, milliseconds(200))) return lease_end_after_pump();
    }
    return std::nullopt;
  }
  LeaseEnd lease_end_after_pump() {
    if (fatal_stop_) return LeaseEnd::Fatal;
    return lost() ? LeaseEnd::Lost : LeaseEnd::GiveBack;
  }

  Result<SourcePage, EtpError> timed_read(Source& source, PageReader& reader) {
    auto start = Clock::now();
    auto page = reader.read_page();
    auto& m = Metrics::get();
    m.page_seconds().Observe(std::chrono::duration<double>(Clock::now() - start).count());
    // A 200 whose body could not be used is not a success: its own status label.
    std::string status = page                              ? "200"
                         : page.error().http_status == 200 ? "200_unusable"
                                                           : std::to_string(page.error().http_status);
    m.etp_requests(source.route(), status).Increment();
    if (page) m.mark_success("poll");
    if (!page) m.errors("vendor").Increment();
    return page;
  }

  LeaseEnd fail(const char* code, const std::string& message, const LeaseGrant& l) {
    log::error("fetcher.fatal",
               {{"worker", o_.worker_id}, {"partition", l.partition}, {"code", code}, {"error", message}});
    store_.set_fatal(code, message);
    send(coord_, msg(FatalReport{o_.worker_id, code, message}));
    return LeaseEnd::Fatal;
  }

  // A supporting-data source refused for good (a missing entitlement: 401/403 on its own route): switched off
  // for every fetcher, loudly, while the alerts go on.
  LeaseEnd switch_off(const Source& source, const std::string& message, const LeaseGrant& l) {
    log::error("fetcher.source_switched_off",
               {{"source", source.name()},
                {"partition", l.partition},
                {"error", message},
                {"message",
                 "this supporting-data stream stops; the alerts go on. Grant the entitlement (see "
                 "README, Supporting data), then restart the connector: the coordinator switches "
                 "sources back on when it starts"}});
    store_.disable_source(source.name(), message);
    Metrics::get().source_disabled(source.name()).Set(1);
    // A backfill slice is given back unread (it stays pending until the source is on again); a live partition
    // or a drain simply ends its lease.
    return l.live() || source.lookup() ? LeaseEnd::Done : LeaseEnd::GiveBack;
  }

  void wait_to_retry(const LeaseGrant& l, Source& source, const EtpError& e, Backoff& backoff) {
    if (e.rate_limited) budget_.pause(source.route(), e.retry_after_s.value_or(kDefaultPauseS));
    double wait = backoff.next(e.rate_limited ? std::nullopt : e.retry_after_s);
    log::warn("fetcher.retry",
              {{"worker", o_.worker_id}, {"partition", l.partition}, {"error", e.message}, {"wait_s", wait}});
    sleep_pumping(l, wait);
  }

  // False: a gap could not be recorded before the fetcher stopped (the page must not be handed on: its cursor
  // would move past records given up without a trace).
  bool report_problems(const LeaseGrant& l, const Source& source, const SourcePage& page) {
    auto& m = Metrics::get();
    for (const auto& x : page.looked_up) {
      m.lookups(x.queue, page.not_found           ? "not_found"
                         : page.set_aside.empty() ? "found"
                                                  : "set_aside")
          .Increment();
      if (page.not_found)
        log::info("fetcher.lookup_not_found",
                  {{"queue", x.queue}, {"id", x.id}, {"message", "recorded, dropped"}});
    }
    m.errors("rejected_record").Increment(static_cast<double>(page.set_aside.size()));
    for (const auto& x : page.set_aside) {
      if (auto ok = store_.dead_letter(source.stream(), x.key, x.why, x.raw); !ok)
        log::error("fetcher.dead_letter_failed",
                   {{"stream", source.stream()}, {"key", x.key}, {"error", ok.error()}});
    }
    if (page.repaired > 0) {
      log::warn("fetcher.vendor_text_repaired", {{"partition", l.partition}, {"places", page.repaired}});
      m.vendor_anomalies("text_repaired").Increment(static_cast<double>(page.repaired));
    }
    if (page.future_records > 0) {
      log::warn("fetcher.future_records", {{"partition", l.partition},
                                           {"records", page.future_records},
                                           {"message",
                                            "records stamped beyond now + 5 min: delivered, but they "
                                            "do not move the cursor"}});
      m.vendor_anomalies("future_record").Increment(static_cast<double>(page.future_records));
    }
    for (const auto& r : page.rejected)
      log::error("fetcher.rejected_record", {{"partition", l.partition}, {"record", r}});
    if (!page.gap) return true;
    log::error("fetcher.gap", {{"partition", l.partition},
                               {"at", page.gap->at},
                               {"count", page.gap->count},
                               {"detail", page.gap->detail}});
    m.stuck_cursors().Increment();
    while (!store_.record_gap(l.partition, page.gap->at, page.gap->count)) {
      if (stop_ || lost()) return false;
      sleep_pumping(l, 1.0);  // Redis unreachable: the gap is recorded before the cursor may pass it
    }
    return true;
  }

  // --- handing rows on ------------------------------------------------------------------------------------
  // Drops rows already delivered, runs the enrichment steps, sends the rest as row batches (one per stream).
  bool hand_on(const LeaseGrant& l, const Source& source, SourcePage& page, bool sweeping) {
    if (!drop_delivered(page.rows)) return false;
    Metrics::get().alerts_fetched(l.traffic_type).Increment(static_cast<double>(page.rows.size()));
    std::map<std::string, std::vector<Row>> by_stream;
    for (auto& step : steps_) {
      step->apply(page.rows,
                  [&](const std::string& stream, Row r) { by_stream[stream].push_back(std::move(r)); });
    }
    auto& own = by_stream[source.stream()];
    own.insert(own.begin(), std::make_move_iterator(page.rows.begin()),
               std::make_move_iterator(page.rows.end()));
    auto batches = cut_batches(std::move(by_stream));
    if (batches.empty()) batches.emplace_back(source.stream(), std::vector<Row>{});  // carries the position
    for (std::size_t i = 0; i < batches.size(); ++i) {
      bool last = i + 1 == batches.size();
      send_batch(l, std::move(batches[i].first), std::move(batches[i].second), last ? &page : nullptr,
                 sweeping);
    }
    return commit_ready(l);
  }

  bool drop_delivered(std::vector<Row>& rows) {
    std::vector<DeliveredVersion> versions;
    versions.reserve(rows.size());
    for (const auto& r : rows) versions.push_back({r.key, r.time_us});
    auto seen = store_.delivered(versions);
    while (!seen) {  // Redis down: we cannot know; wait rather than ship duplicates or lose the page
      log::warn("fetcher.redis_unavailable", {{"error", seen.error()}});
      if (stop_) return false;
      std::this_thread::sleep_for(kRedisRetry);
      seen = store_.delivered(versions);
    }
    std::size_t kept = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (seen.value()[i]) continue;
      if (kept != i) rows[kept] = std::move(rows[i]);
      ++kept;
    }
    Metrics::get().duplicates_dropped().Increment(static_cast<double>(rows.size() - kept));
    rows.resize(kept);
    return true;
  }

  // position: the page, for its last batch (which carries the page's cursor to commit), else nullptr.
  void send_batch(const LeaseGrant& l, std::string stream, std::vector<Row> rows, const SourcePage* position,
                  bool sweeping) {
    InFlight b;
    for (const auto& r : rows) b.versions.push_back({r.key, r.time_us});
    if (position) {
      b.carries_position = true;
      // Sweep positions: "-" means the sweep reached the head (restart at the window's start next time).
      if (sweeping) b.sweep_cursor = position->finished() ? "-" : position->cursor;
      if (!sweeping) b.cursor = position->cursor;
      b.caught_up = !sweeping && position->caught_up;
      bool steady = l.live() && l.caught_up_us > 0;
      for (const auto& x : position->lookups) {
        if (lookup_wanted(c_, x, steady)) b.lookups.push_back(x);
      }
      b.looked_up = position->looked_up;
      b.not_found = position->not_found;
    }
    std::string id = o_.worker_id + ":" + std::to_string(++batch_seq_);
    b.message = msg(RowBatch{id, l.partition, l.epoch, std::move(stream), std::move(rows)});
    if (b.versions.empty()) {
      b.reported = true;  // nothing to ship: only the position to commit
    } else {
      send(ship_, b.message);
      b.sent_at = b.last_liveness_check = Clock::now();
    }
    in_flight_.push_back(std::move(b));
  }

  // --- delivery reports and commits -----------------------------------------------------------------------
  // Reads shipper messages for up to `wait`, resends what no live shipper holds, commits what is ready.
  bool pump(const LeaseGrant& l, milliseconds wait) {
    read_shipper_messages(wait);
    resend_unacknowledged();
    if (store_.fatal()) {
      log::error("fetcher.stopping_on_fatal", {{"worker", o_.worker_id}});
      fatal_stop_ = true;
      return false;
    }
    return commit_ready(l);
  }

  // Reads everything already queued before judging any batch unacknowledged: acks wait in the socket while
  // this fetcher waits for the budget or the vendor.
  void read_shipper_messages(milliseconds wait) {
    auto deadline = Clock::now() + wait;
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      auto m = receive(ship_, std::clamp(left, milliseconds(0), milliseconds(50)), false);
      if (m) {
        on_shipper_message(m->message);
        continue;
      }
      if (Clock::now() >= deadline) break;
    }
  }

  void resend_unacknowledged() {
    auto now = Clock::now();
    for (auto& b : in_flight_) {
      if (b.reported) continue;
      bool unacked = b.acked_by.empty() && now - b.sent_at > milliseconds(o_.ack_timeout_ms);
      bool orphaned = false;
      if (!b.acked_by.empty() && now - b.last_liveness_check > kShipperLivenessCheck) {
        b.last_liveness_check = now;
        orphaned = !store_.shipper_is_alive(b.acked_by);
      }
      if (!unacked && !orphaned) continue;
      log::warn("fetcher.resend",
                {{"batch", b.id()}, {"reason", unacked ? "not acknowledged" : "shipper gone"}});
      b.acked_by.clear();
      b.sent_at = now;
      send(ship_, b.message);
    }
  }

  void on_shipper_message(const Message& m) {
    if (const auto* a = std::get_if<Accepted>(&m.body)) {
      if (InFlight* b = find_batch(a->batch)) b->acked_by = a->shipper;
      return;
    }
    const auto* r = std::get_if<DeliveryReport>(&m.body);
    InFlight* b = r ? find_batch(r->batch) : nullptr;
    if (!b) return;
    std::set<std::string> ok(r->delivered.begin(), r->delivered.end());
    ok.insert(r->dead_lettered.begin(), r->dead_lettered.end());
    b->reported = true;
    for (const auto& v : b->versions) b->failed = b->failed || !ok.count(v.key);
    if (b->failed) {
      log::warn("fetcher.batch_not_delivered",
                {{"batch", r->batch}, {"outcome", outcome_name(r->outcome)}, {"error", r->error}});
    }
  }

  InFlight* find_batch(const std::string& id) {
    for (auto& b : in_flight_) {
      if (b.id() == id && !b.reported) return &b;
    }
    return nullptr;
  }

  // Commits the reported prefix of the in-flight queue, in order. False: the lease cannot go on.
  bool commit_ready(const LeaseGrant& l) {
    while (!in_flight_.empty() && in_flight_.front().reported) {
      InFlight& b = in_flight_.front();
      if (b.failed) {
        // Never commit past an undelivered batch: give the partition back at once; it is redone from the
        // committed cursor by whoever leases it next.
        in_flight_.clear();
        return false;
      }
      if (!enqueue(b.lookups)) return true;  // Redis refused: try again on the next pump, before committing
      std::vector<DeliveredVersion> marks = b.versions;
      for (const auto& x : b.looked_up) marks.push_back(lookup_mark(x));
      auto ok = store_.commit(l.partition, l.epoch, b.cursor, marks, b.caught_up, b.sweep_cursor);
      if (!ok) {
        log::warn("fetcher.redis_unavailable", {{"error", ok.error()}});
        return true;  // try again on the next pump
      }
      if (!ok.value()) {
        log::warn("fetcher.stale_epoch", {{"partition", l.partition}, {"epoch", l.epoch}});
        mark_lost();
        in_flight_.clear();
        return false;
      }
      Metrics::get().mark_success("commit");
      if (!b.cursor.empty()) committed_cursor_ = b.cursor;
      if (!b.looked_up.empty()) {
        // Best effort: an entry left behind is delivered already, so the next drain drops it without a
        // request.
        if (auto done = queue(b.looked_up.front().queue).done(b.looked_up, b.not_found); !done)
          log::warn("fetcher.redis_unavailable", {{"error", done.error()}});
      }
      in_flight_.pop_front();
    }
    return true;
  }

  LookupQueue& queue(const std::string& name) {
    auto it = queues_.find(name);
    if (it == queues_.end())
      it = queues_.try_emplace(name, redis_, store_.prefix(), name, c_.etp_lookup_queue_max).first;
    return it->second;
  }

  // Queues the lookups a delivered page calls for, but not those already delivered (every head poll reads its
  // boundary alert again; a page read again after a crash calls for its lookups again). False: Redis refused
  // (nothing is committed before they are queued).
  bool enqueue(const std::vector<Lookup>& lookups) {
    if (lookups.empty()) return true;
    std::vector<DeliveredVersion> marks;
    for (const auto& x : lookups) marks.push_back(lookup_mark(x));
    auto done = store_.delivered(marks);
    if (!done) {
      log::warn("fetcher.redis_unavailable", {{"error", done.error()}});
      return false;
    }
    std::map<std::string, std::vector<Lookup>> by_queue;
    for (std::size_t i = 0; i < lookups.size(); ++i) {
      if (!done.value()[i]) by_queue[lookups[i].queue].push_back(lookups[i]);
    }
    for (const auto& [name, entries] : by_queue) {
      auto dropped = queue(name).enqueue(entries);
      if (!dropped) {
        log::warn("fetcher.redis_unavailable", {{"error", dropped.error()}});
        return false;
      }
      if (dropped.value() > 0) {
        log::warn("fetcher.lookup_queue_full",
                  {{"queue", name},
                   {"dropped_oldest", dropped.value()},
                   {"capacity", c_.etp_lookup_queue_max},
                   {"message",
                    "the oldest lookups were dropped (newest are drained first); raise "
                    "ETP_LOOKUP_QUEUE_MAX or lower the backfill window"}});
        Metrics::get().lookups(name, "dropped_full").Increment(static_cast<double>(dropped.value()));
      }
    }
    return true;
  }

  bool drain_in_flight(const LeaseGrant& l) {
    auto deadline = Clock::now() + std::chrono::seconds(o_.drain_timeout_s);
    while (!in_flight_.empty()) {
      // Once asked to stop, wait a bounded time; otherwise as long as shippers are alive and working.
      if (stop_ && Clock::now() > deadline) {
        log::warn("fetcher.drain_timeout", {{"uncommitted_batches", in_flight_.size()}});
        return false;
      }
      if (!pump(l, milliseconds(100))) return false;
    }
    return true;
  }

  void sleep_pumping(const LeaseGrant& l, double seconds) {
    auto until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    while (Clock::now() < until && !stop_) (void)pump(l, milliseconds(100));
  }

  const Config& c_;
  const FetcherOptions& o_;
  const std::atomic<bool>& stop_;
  Redis redis_;
  StateStore store_;
  Budget budget_;
  std::shared_ptr<EtpClient> client_;
  std::map<std::string, std::unique_ptr<Source>> sources_;
  std::map<std::string, LookupQueue> queues_;
  std::vector<std::unique_ptr<EnrichmentStep>> steps_;
  zmq::socket_t coord_, ship_;
  std::thread heartbeat_;
  std::atomic<bool> hb_stop_{false};
  std::mutex mu_;
  std::optional<LeaseGrant> current_;
  bool lease_lost_ = false;
  bool yield_asked_ = false;
  bool fatal_stop_ = false;
  std::deque<InFlight> in_flight_;
  std::string committed_cursor_;
  std::optional<bool> first_page_caught_up_;  // of the current lease's read (not its sweep)
  std::map<std::string, int> dense_polls_;    // partition → polls left without holding back
  unsigned long long batch_seq_ = 0;
};

}  // namespace

namespace {
std::string slot_id(const std::string& worker_id, int slot) {
  std::string id = worker_id;
  id.push_back('/');
  id.append(std::to_string(slot));
  return id;
}
}  // namespace

Fetcher::Fetcher(const Config& config, FetcherOptions options) : config_(config), opt_(std::move(options)) {}

int Fetcher::run(const std::atomic<bool>& stop) {
  if (!redis_address(config_)) {
    log::error("fetcher.fatal", {{"error", "REDIS_URL is not usable"}});
    return 2;
  }
  {  // the state in Redis must be this vendor's and credential's (common/fingerprint.h)
    Redis redis(redis_address(config_).value());
    StateStore store(redis);
    auto mine = claim_state(store, "vendor", vendor_fingerprint(config_), config_, stop);
    if (!mine) return 0;  // stopped while Redis was unreachable
    if (!usable(*mine)) return 2;
    // The documented key rotation: a new key, the fetchers recreated. The vendor's refusal of the old key,
    // recorded as the fatal stop, is what the operator just fixed: cleared, so that the pipeline resumes
    // without restarting the coordinator.
    auto f = store.fatal();
    if (*mine == Claim::CredentialChanged && f && f->code == fatal_code::kEtpAuth) {
      store.clear_fatal();
      log::info("fetcher.cleared_fatal_after_credential_change", {{"was", f->detail}});
    }
  }
  const int slots = std::max(1, opt_.slots);
  if (slots == 1) {  // on this thread: an exception reaches the caller (app/main.cpp guarded())
    Worker w(config_, opt_, stop);
    if (auto ok = w.connect(); !ok) {
      log::error("fetcher.cannot_connect", {{"error", ok.error()}});
      return 2;
    }
    log::info("fetcher.started", {{"worker", opt_.worker_id}, {"slots", 1}});
    int rc = w.run();
    log::info("fetcher.stopped", {{"worker", opt_.worker_id}, {"exit_code", rc}});
    return rc;
  }
  // Several slots: one thread each, under one stop flag of their own — set by `stop`, or when any slot ends
  // (a fatal error, an exception), so that the process never runs on with part of its slots.
  std::atomic<bool> slots_stop{false};
  std::vector<FetcherOptions> opts(static_cast<std::size_t>(slots), opt_);  // the workers keep references
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < slots; ++i) {
    opts[i].worker_id = slot_id(opt_.worker_id, i);
    workers.push_back(std::make_unique<Worker>(config_, opts[i], slots_stop));
    if (auto ok = workers.back()->connect(); !ok) {
      log::error("fetcher.cannot_connect", {{"error", ok.error()}});
      return 2;
    }
  }
  log::info("fetcher.started", {{"worker", opt_.worker_id}, {"slots", slots}});
  std::vector<int> rcs(static_cast<std::size_t>(slots), 0);
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(slots));
  std::atomic<int> ended{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < slots; ++i) {
    threads.emplace_back([&, i] {
      try {
        rcs[i] = workers[i]->run();
      } catch (...) {
        errors[i] = std::current_exception();
      }
      ++ended;
    });
  }
  while (!stop && ended == 0) std::this_thread::sleep_for(milliseconds(100));
  slots_stop = true;
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);  // recorded as a fatal error by the caller, exit 3
  }
  int rc = *std::max_element(rcs.begin(), rcs.end());
  log::info("fetcher.stopped", {{"worker", opt_.worker_id}, {"exit_code", rc}});
  return rc;
}

}  // namespace etp2s
