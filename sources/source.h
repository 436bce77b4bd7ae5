#pragma once
// A source: one kind of vendor data read page by page into rows of one stream (a Sentinel table).
// This is the whole contract between the pipeline and the vendor; the coordinator, the fetcher and the
// shipper know no vendor field name. To add a stream: write a Source, a schema file in sources/schema/,
// and add the source to sources/registry.cpp (see docs/design.md, "Adding a stream").
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/budget.h"
#include "common/config.h"
#include "common/etp_client.h"
#include "common/lookup_queue.h"
#include "common/row.h"
#include "common/state.h"

namespace etp2s {

// The window the coordinator plans: what every source's partitions must cover together.
struct PlanWindow {
  Micros now_us = 0;
  int backfill_days = 7;
  int fetchers = 4;
  std::vector<std::string> traffic_types;
  std::vector<std::string> domains;  // a partition per domain where the source can filter by it (v2)
};

// Where one read starts and stops: a lease's committed cursor, or a late-arrival sweep.
struct ReadScope {
  ReadScope() = default;
  ReadScope(std::string traffic, std::string from, std::optional<Micros> end, std::string floor = {},
            std::string domain_ = {})
      : traffic_type(std::move(traffic)),
        cursor(std::move(from)),
        end_us(end),
        floor_cursor(std::move(floor)),
        domain(std::move(domain_)) {}
  std::string traffic_type;
  std::string cursor;            // the source's own cursor format; empty: from the source's default
  std::optional<Micros> end_us;  // exclusive end; none: up to the head
  std::string floor_cursor;  // a read held back before its committed cursor never reports a cursor below it
  std::string domain;        // the partition's domain (empty: every configured domain)
};

// A record set aside for an operator (dead-lettered with its stream): it could not be made into a row.
struct SetAside {
  std::string key, why, raw;
};

struct Gap {
  std::string at;  // where the source knowingly skipped records (recorded in Redis, reported)
  std::size_t count = 0;
  std::string detail;
};

// One page, read and turned into rows.
struct SourcePage {
  std::vector<Row> rows;   // new rows, in read order
  std::string cursor;      // the read position after this page (committed once its rows are delivered)
  bool caught_up = false;  // nothing more is visible now
  bool reached_end = false;
  std::size_t records = 0;            // records read (before dedupe), for metrics
  std::vector<std::string> rejected;  // records that could not be read (logged by the fetcher)
  std::size_t repaired = 0;           // places in the page's text repaired (invalid UTF-8, lone surrogates)
  std::size_t future_records = 0;     // records stamped beyond now + the clock-skew allowance
  std::optional<Gap> gap;
  std::vector<Lookup> lookups;      // lookups these records call for (queued once the page is delivered)
  std::vector<Lookup> looked_up;    // queue entries this page answered (leave the queue once delivered)
  bool not_found = false;           // looked_up entries the vendor answered "not found" (recorded, dropped)
  std::vector<SetAside> set_aside;  // dead-lettered with the source's stream
  bool reading_a_tie =
      false;  // one request of a tie's slices (docs/pager.md): not counted against a lease's pages
  bool finished() const { return caught_up || reached_end; }
};

// The records a page could not read: logged, and kept whole in the dead letter list with the source's stream.
inline void set_aside_rejected(const std::vector<RejectedRecord>& rejected, SourcePage& out) {
  for (const auto& r : rejected) {
    out.rejected.push_back(r.reason + ": " + r.excerpt);
    out.set_aside.push_back({"rejected|" + std::to_string(std::hash<std::string>{}(r.raw)), r.reason, r.raw});
  }
}

enum class Unreadable { Retry, Narrowed, Skipped };

// Reads one scope page by page. read_page() makes exactly one vendor request (the caller holds a budget
// permit for it) and never retries: a failure is returned classified (EtpError: Fatal or Retry).
class PageReader {
 public:
  virtual ~PageReader() = default;
  virtual Result<SourcePage, EtpError> read_page() = 0;
  // The vendor keeps answering the next page with a body that cannot be read, even after repairs
  // (EtpError::unreadable, ETP_UNREADABLE_PAGE_ATTEMPTS times in a row). Narrowed: the next page is smaller
  // (the records before the bad one get read). Skipped: `skipped` is a page without rows whose gap names the
  // range given up and whose cursor lies past it. Retry: this reader cannot skip (the default; it retries
  // on).
  virtual Unreadable unreadable(SourcePage& /*skipped*/) { return Unreadable::Retry; }
  // False: nothing to read now (an empty lookup queue) — no request is made and no budget permit is taken.
  virtual bool has_work() { return true; }
};

class Source {
 public:
  virtual ~Source() = default;
  virtual std::string name() const = 0;    // e.g. "alerts-v1"; partitions name their source
  virtual std::string stream() const = 0;  // the table its rows go to, e.g. "FireEyeETPAlerts_CL"
  virtual std::string route() const = 0;   // the vendor route whose budget it spends ("alerts", ...)
  // The partitions covering the window; the last one of each scope is open-ended (steady state).
  virtual std::vector<Partition> plan(const PlanWindow& window) const = 0;
  virtual std::unique_ptr<PageReader> open(const ReadScope& scope) = 0;
  // Adaptive partitions: the cursor that a partition of this source starting at `start_us` begins with (as
  // plan() sets it). None: the coordinator does not split this source's partitions.
  virtual std::optional<std::string> start_cursor(Micros /*start_us*/) const { return std::nullopt; }
  // Steady state: the scope that re-reads the last `overlap_s` before `head_cursor` for late arrivals,
  // resuming at `sweep_cursor` if it lies inside that range. None: the source needs no sweep.
  virtual std::optional<ReadScope> sweep_scope(const std::string& traffic_type,
                                               const std::string& head_cursor,
                                               const std::string& sweep_cursor, int overlap_s) const = 0;
  // Steady state: the head poll held back by `overlap_s` before `head_cursor` (to the head and beyond), so
  // that one request returns both the new records and those that became visible late; the dedupe marks drop
  // the repeats. None: the source polls from its cursor and relies on sweep_scope().
  virtual std::optional<ReadScope> head_scope(const std::string& /*traffic_type*/,
                                              const std::string& /*head_cursor*/, int /*overlap_s*/) const {
    return std::nullopt;
  }
  // A lookup source drains a queue (sources/lookups.h) instead of paging through time: it takes budget only
  // when paging leaves some, and the backfill does not wait for it.
  virtual bool lookup() const { return false; }
  Priority priority() const { return lookup() ? Priority::Enrichment : Priority::Paging; }
  // Supporting data on a route of its own: a fatal answer (e.g. a missing entitlement, 401/403) switches this
  // source off with a clear message instead of stopping the alerts.
  virtual bool optional() const { return false; }
  // Steady state: the least time between two polls of a live partition (0: the coordinator's default).
  virtual Micros poll_interval() const { return 0; }
};

// An enrichment step: sits between a source and its rows; may add columns to the rows of a page or emit rows
// of other streams (`emit(stream, row)`), which are delivered and committed with the page.
class EnrichmentStep {
 public:
  virtual ~EnrichmentStep() = default;
  virtual void apply(std::vector<Row>& rows, const std::function<void(const std::string&, Row)>& emit) = 0;
};

// What a source needs from the process: the vendor client and the row limits of the destination in use.
struct SourceContext {
  const Config& config;
  std::shared_ptr<EtpClient> client;
  RowLimits limits;
  Redis* redis = nullptr;  // lookup sources read their queue (the fetcher's connection); none when planning
  std::string prefix = "etp:";
};

using SourceFactory = std::function<std::unique_ptr<Source>(const SourceContext&)>;

// The sources this build knows, by name; tests may add their own.
void register_source(const std::string& name, SourceFactory factory);
std::unique_ptr<Source> make_source(const std::string& name, const SourceContext& ctx);
// The sources the configuration turns on: the v1 alert summary, and the lookups ETP_DETAILS/ETP_TRACE ask
// for.
std::vector<std::string> enabled_sources(const Config& c);
// Whether a lookup a page calls for is wanted: its queue is on, and (ETP_DETAILS=new) the page was read in
// steady state.
bool lookup_wanted(const Config& c, const Lookup& l, bool steady_state);
// The enrichment steps the configuration puts after `source` (none yet by default; tests add their own).
void register_enrichment(const std::string& source, std::function<std::unique_ptr<EnrichmentStep>()> factory);
std::vector<std::unique_ptr<EnrichmentStep>> make_enrichments(const std::string& source);

}  // namespace etp2s
