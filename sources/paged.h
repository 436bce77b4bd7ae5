#pragma once
// What the sources paged oldest first by a modification time share (the v1 alert summary and the whole
// message trace): partitions of time × traffic type, a reader that runs the cursor pager (common/pager.h),
// the held-back head poll and the late-arrival sweep. A paged source only says how to fetch a page and how a
// record becomes rows.
#include <functional>

#include "common/pager.h"
#include "sources/source.h"

namespace etp2s {

// One page request of the cursor pager's query (made under a budget permit by the caller).
using PageFetch = std::function<Result<SummaryPage, EtpError>(const SummaryQuery&)>;
// Turns one new record of a page into rows (and lookups) of the SourcePage.
using RecordRows = std::function<void(const Alert&, SourcePage&)>;

class PagedSource : public Source {
 public:
  // Partition ids are `<id_prefix><traffic type>-NN`; pages hold `page_size` records, at most `max_page_size`
  // (a tie is retried at the maximum before it is recorded as a gap).
  PagedSource(std::string id_prefix, int page_size, int max_page_size);
  // The window cut into partitions per traffic type, twice as many as fetchers (at least one hour each), the
  // last of each traffic type open-ended (steady state).
  std::vector<Partition> plan(const PlanWindow& window) const override;
  std::unique_ptr<PageReader> open(const ReadScope& scope) override;
  std::optional<std::string> start_cursor(Micros start_us) const override { return format_vendor(start_us); }
  // From head - overlap on, never reporting a cursor below the head.
  std::optional<ReadScope> head_scope(const std::string& traffic_type, const std::string& head_cursor,
                                      int overlap_s) const override;
  // [head - overlap, head), resuming at `sweep_cursor` inside that range.
  std::optional<ReadScope> sweep_scope(const std::string& traffic_type, const std::string& head_cursor,
                                       const std::string& sweep_cursor, int overlap_s) const override;

  // The attribute filters a tie is read through (docs/pager.md; only the v1 alert summary has them).
  void set_tie_filters(std::vector<std::string> email_statuses, std::vector<std::string> alert_types) {
    tie_email_statuses_ = std::move(email_statuses);
    tie_alert_types_ = std::move(alert_types);
  }

 protected:
  virtual PageFetch fetch() const = 0;
  virtual RecordRows rows() const = 0;

 private:
  std::string id_prefix_;
  int page_size_, max_page_size_;
  std::vector<std::string> tie_email_statuses_, tie_alert_types_;
};

}  // namespace etp2s
