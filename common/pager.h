#pragma once
// The cursor pager over POST /api/v1/alerts and POST /api/v1/messages/trace (see docs/pager.md). A pure state
// machine: it says which query to send next and digests each page; the caller sends the query (under the
// budget) and retries.
#include <deque>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "common/etp_client.h"
#include "common/etp_model.h"

namespace etp2s {

struct PagerOptions {
  std::string traffic_type = "inbound";
  int size = 200;
  int max_size = 200;  // the route's page limit (alerts 200, trace 300): a tie is retried at this size
  OrderedJson attributes = OrderedJson::object();
  std::optional<Micros> end_us;  // exclusive partition end: alerts at or after it are not handed on
  // Clock skew allowance: an alert stamped later than now + this is handed on, but the cursor never moves
  // past now + this (one alert stamped 2099 must not make every later alert invisible).
  Micros future_allowance_us = 5 * 60 * kMicrosPerSecond;
  Clock clock = now_micros;
  // A tie (more alerts on one instant than the largest page) is read in slices, one per `email_status` value
  // and, where a slice is still full, per `alert_types` value within it, and checked against the count at
  // that instant (docs/pager.md, "The stuck cursor"). Empty: no slicing (the source has no such filters).
  std::vector<std::string> tie_email_statuses;
  std::vector<std::string> tie_alert_types;
};

struct StuckCursor {
  std::string at;                        // the last_modified_on shared by more than `size` alerts
  std::size_t seen = 0;                  // how many distinct alerts at that instant were handed on
  std::string resumed_from;              // where paging continued (at + 1 ms)
  std::optional<std::int64_t> expected;  // the vendor's count at that instant (none: it gave no count)
  std::size_t slices = 0;                // slice queries made
  std::size_t unsplittable = 0;          // slices still full with no finer filter left
};

struct PageResult {
  std::vector<Alert> alerts;  // new alerts, in page order, all before end_us
  std::size_t boundary_repeats = 0;
  std::size_t beyond_end = 0;  // alerts at or after end_us (left for the next partition)
  std::size_t future = 0;      // alerts stamped beyond now + the skew allowance (handed on, cursor not moved)
  bool caught_up = false;      // fewer records than requested: nothing more is visible now
  bool reached_end = false;    // saw an alert at or after end_us
  std::optional<StuckCursor> stuck;     // a tie that could not be read whole: a recorded gap
  std::optional<StuckCursor> tie_read;  // a tie read whole through slices (logged, no gap)
  bool finished() const { return caught_up || reached_end; }
};

// What the pager does about a page the vendor keeps answering with a body that cannot be read (docs/pager.md,
// "The unreadable page").
struct UnreadableStep {
  bool narrowed = false;  // the next page is smaller, so that the records before the bad one get read
  std::string from, to;   // else: the range given up, [from, to); the cursor is now `to`
  bool reached_end = false;
};

class CursorPager {
 public:
  CursorPager(PagerOptions options, std::string start_cursor);
  SummaryQuery next_query() const;
  PageResult accept(const SummaryPage& page);
  UnreadableStep unreadable();
  const std::string& cursor() const { return cursor_; }
  // A tie is being read in slices: the cursor stays on its instant until the slices are done.
  bool reading_a_tie() const { return tie_ != Tie::None; }
  Micros cursor_us() const { return cursor_us_; }
  int size() const { return size_; }

 private:
  void move_cursor(Micros to);
  void start_tie();
  PageResult accept_tie(const SummaryPage& page);
  void finish_tie(PageResult& out);
  enum class Tie { None, CountFrom, CountAfter, Slicing };
  Tie tie_ = Tie::None;
  std::optional<std::int64_t> tie_total_from_, tie_total_after_;
  std::deque<OrderedJson> slices_;  // attribute filters still to read at the tie instant
  std::size_t slices_read_ = 0, unsplittable_ = 0;
  PagerOptions opt_;
  int size_;
  std::string cursor_;  // empty: from the vendor's default (90 days back)
  Micros cursor_us_ = 0;
  std::unordered_set<std::string> ids_at_cursor_;  // alerts already handed on at or after the cursor instant
  int narrowed_pages_ = 0;  // pages left at the narrowed size before the usual size is restored
  int skips_ = 0;           // unreadable ranges skipped in a row (each skip twice as long as the last)
};

}  // namespace etp2s
