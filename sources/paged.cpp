#include "sources/paged.h"

#include <algorithm>
#include <cstdio>
#include <functional>

#include "common/log.h"

namespace etp2s {
namespace {

class CursorReader final : public PageReader {
 public:
  CursorReader(PageFetch fetch, RecordRows rows, PagerOptions o, const std::string& cursor,
               const std::string& floor_cursor)
      : fetch_(std::move(fetch)),
        rows_(std::move(rows)),
        pager_(std::move(o), cursor),
        floor_cursor_(floor_cursor),
        floor_us_(cursor_time(floor_cursor)) {}

  Result<SourcePage, EtpError> read_page() override {
    auto page = fetch_(pager_.next_query());
    if (!page) return err(page.error());
    SourcePage out;
    out.records = page->alerts.size();
    out.repaired = page->repaired;
    set_aside_rejected(page->rejected, out);
    PageResult res = pager_.accept(page.value());
    if (res.stuck) {
      const StuckCursor& s = *res.stuck;
      std::string what = "more records share one modification time than a page holds";
      if (s.slices > 0) {
        what += "; read in " + std::to_string(s.slices) +
                " slices by email_status and alert_types: " + std::to_string(s.seen) + " of " +
                (s.expected ? std::to_string(*s.expected) : std::string("an unknown number (no count)")) +
                " read" +
                (s.unsplittable ? ", " + std::to_string(s.unsplittable) + " slices still full" : "");
      }
      out.gap = Gap{s.at, s.seen, what + "; resumed from " + s.resumed_from};
    }
    if (res.tie_read) {
      log::info("pager.tie_read", {{"at", res.tie_read->at},
                                   {"alerts", res.tie_read->seen},
                                   {"count", res.tie_read->expected.value_or(-1)},
                                   {"slices", res.tie_read->slices}});
    }
    out.rows.reserve(res.alerts.size());
    for (const auto& a : res.alerts) rows_(a, out);
    out.cursor = pager_.cursor();
    if (floor_us_ && (out.cursor.empty() || pager_.cursor_us() < *floor_us_)) out.cursor = floor_cursor_;
    out.caught_up = res.caught_up;
    out.reading_a_tie = pager_.reading_a_tie();
    out.future_records = res.future;
    out.reached_end = res.reached_end;
    return out;
  }

  Unreadable unreadable(SourcePage& skipped) override {
    UnreadableStep step = pager_.unreadable();
    if (step.narrowed) return Unreadable::Narrowed;
    skipped.cursor = pager_.cursor();
    if (floor_us_ && pager_.cursor_us() < *floor_us_) skipped.cursor = floor_cursor_;
    skipped.gap = Gap{step.from + "/" + step.to, 0,
                      "the vendor answered this page again and again with a body that cannot be read; the "
                      "records modified from " +
                          step.from + " up to " + step.to + " were given up"};
    skipped.reached_end = step.reached_end;
    return Unreadable::Skipped;
  }

 private:
  PageFetch fetch_;
  RecordRows rows_;
  CursorPager pager_;
  std::string floor_cursor_;
  std::optional<Micros> floor_us_;
};

}  // namespace

PagedSource::PagedSource(std::string id_prefix, int page_size, int max_page_size)
    : id_prefix_(std::move(id_prefix)), page_size_(page_size), max_page_size_(max_page_size) {}

std::vector<Partition> PagedSource::plan(const PlanWindow& o) const {
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
      p.id = id_prefix_ + id;
      p.source = name();
      p.traffic_type = t;
      p.start_us = (start + window * i / slices) / 1000 * 1000;
      if (i + 1 < slices) p.end_us = (start + window * (i + 1) / slices) / 1000 * 1000;
      p.cursor = format_vendor(p.start_us);
      out.push_back(std::move(p));
    }
  }
  return out;
}

std::unique_ptr<PageReader> PagedSource::open(const ReadScope& scope) {
  PagerOptions po;
  po.traffic_type = scope.traffic_type;
  po.size = page_size_;
  po.max_size = max_page_size_;
  po.end_us = scope.end_us;
  po.tie_email_statuses = tie_email_statuses_;
  po.tie_alert_types = tie_alert_types_;
  return std::make_unique<CursorReader>(fetch(), rows(), std::move(po), scope.cursor, scope.floor_cursor);
}

std::optional<ReadScope> PagedSource::head_scope(const std::string& traffic_type,
                                                 const std::string& head_cursor, int overlap_s) const {
  auto head = cursor_time(head_cursor);
  if (!head || overlap_s <= 0) return std::nullopt;
  return ReadScope{traffic_type, format_vendor(*head - static_cast<Micros>(overlap_s) * kMicrosPerSecond),
                   std::nullopt, head_cursor};
}

std::optional<ReadScope> PagedSource::sweep_scope(const std::string& traffic_type,
                                                  const std::string& head_cursor,
                                                  const std::string& sweep_cursor, int overlap_s) const {
  auto head = cursor_time(head_cursor);
  if (!head || overlap_s <= 0) return std::nullopt;
  Micros window_start = *head - static_cast<Micros>(overlap_s) * kMicrosPerSecond;
  auto from = cursor_time(sweep_cursor);
  std::string start = sweep_cursor;
  if (!from || *from < window_start || *from >= *head) start = format_vendor(window_start);
  return ReadScope{traffic_type, start, *head};
}

}  // namespace etp2s
