#include "common/pager.h"

#include <algorithm>
#include <limits>

namespace etp2s {
namespace {
Micros floor_ms(Micros t) {
  Micros r = t % 1000;
  return r >= 0 ? t - r : t - r - 1000;
}
}  // namespace

CursorPager::CursorPager(PagerOptions options, std::string start_cursor)
    : opt_(std::move(options)), size_(std::clamp(opt_.size, 1, std::max(1, opt_.max_size))) {
  if (!start_cursor.empty()) {
    if (auto t = cursor_time(start_cursor)) move_cursor(floor_ms(*t));
  }
}

void CursorPager::move_cursor(Micros to) {
  if (!cursor_.empty() && to == cursor_us_) return;
  cursor_us_ = to;
  cursor_ = format_vendor(to);
  ids_at_cursor_.clear();
}

SummaryQuery CursorPager::next_query() const {
  SummaryQuery q;
  if (!cursor_.empty()) q.from_last_modified_on = cursor_;
  q.size = size_;
  q.traffic_type = opt_.traffic_type;
  q.attributes = opt_.attributes;
  switch (tie_) {
    case Tie::None:
      break;
    case Tie::CountAfter:  // meta.total from just after the instant on ...
      q.size = 0;
      q.from_last_modified_on = format_vendor(cursor_us_ + 1000);
      break;
    case Tie::CountFrom:  // ... then from the instant on: the difference is the count at the instant. In this
      // order an alert that arrives between the two calls can only raise the count (a false gap, never a
      // hidden one).
      q.size = 0;
      break;
    case Tie::Slicing:
      q.size = opt_.max_size;
      for (auto it = slices_.front().begin(); it != slices_.front().end(); ++it)
        q.attributes[it.key()] = it.value();
      break;
  }
  return q;
}

void CursorPager::start_tie() {
  tie_ = Tie::CountAfter;
  tie_total_from_.reset();
  tie_total_after_.reset();
  slices_.clear();
  slices_read_ = unsplittable_ = 0;
  for (const auto& s : opt_.tie_email_statuses)
    slices_.push_back(OrderedJson{{"email_status", OrderedJson::array({s})}});
}

// One answer of the tie's reading: a count, or a slice whose records at the instant are handed on (a slice
// still full at the instant is split by alert type, once).
PageResult CursorPager::accept_tie(const SummaryPage& page) {
  PageResult out;
  if (tie_ == Tie::CountFrom || tie_ == Tie::CountAfter) {
    (tie_ == Tie::CountFrom ? tie_total_from_ : tie_total_after_) = page.total;
    tie_ = tie_ == Tie::CountAfter ? Tie::CountFrom : Tie::Slicing;
    if (tie_ == Tie::Slicing && slices_.empty()) finish_tie(out);
    return out;
  }
  OrderedJson slice = std::move(slices_.front());
  slices_.pop_front();
  ++slices_read_;
  std::size_t at_tie = 0;
  bool beyond = false;
  for (const auto& a : page.alerts) {
    if (floor_ms(a.last_modified_us) != cursor_us_) {
      beyond = beyond || a.last_modified_us > cursor_us_;
      continue;  // after the instant: the paging after the tie reads it
    }
    ++at_tie;
    if (ids_at_cursor_.insert(a.id).second) {
      out.alerts.push_back(a);
    } else {
      ++out.boundary_repeats;
    }
  }
  bool full = page.alerts.size() + page.rejected.size() >= static_cast<std::size_t>(opt_.max_size);
  if (full && !beyond && at_tie > 0) {
    if (!slice.contains("alert_types") && !opt_.tie_alert_types.empty()) {
      for (const auto& t : opt_.tie_alert_types) {
        OrderedJson finer = slice;
        finer["alert_types"] = OrderedJson::array({t});
        slices_.push_back(std::move(finer));
      }
    } else {
      ++unsplittable_;
    }
  }
  if (slices_.empty()) finish_tie(out);
  return out;
}

// Checks what the slices found against the vendor's count at the instant, then pages on after it.
void CursorPager::finish_tie(PageResult& out) {
  StuckCursor s;
  s.at = cursor_;
  s.seen = ids_at_cursor_.size();
  // A count of none at an instant that holds a full page is no count (unknown: the tie cannot be checked).
  if (tie_total_from_ && tie_total_after_ && *tie_total_from_ - *tie_total_after_ > 0)
    s.expected = *tie_total_from_ - *tie_total_after_;
  s.slices = slices_read_;
  s.unsplittable = unsplittable_;
  move_cursor(cursor_us_ + 1000);
  s.resumed_from = cursor_;
  // Whole only when the vendor's count says so: a status outside the list, or a filter the vendor ignores,
  // leaves alerts unread, and the count shows it.
  bool whole = s.expected && static_cast<std::int64_t>(s.seen) >= *s.expected;
  (whole ? out.tie_read : out.stuck) = std::move(s);
  tie_ = Tie::None;
}

PageResult CursorPager::accept(const SummaryPage& page) {
  if (tie_ != Tie::None) {
    skips_ = 0;
    return accept_tie(page);
  }
  PageResult out;
  const auto asked = static_cast<std::size_t>(size_);  // the size this page was asked for
  skips_ = 0;
  if (narrowed_pages_ > 0 && --narrowed_pages_ == 0)
    size_ = std::max(size_, std::min(opt_.size, opt_.max_size));
  const auto& recs = page.alerts;
  out.caught_up = recs.size() + page.rejected.size() < asked;

  Micros newest = cursor_.empty() ? std::numeric_limits<Micros>::min() : cursor_us_;
  bool all_at_cursor = !recs.empty() && !cursor_.empty();
  const Micros latest_allowed = opt_.clock() + opt_.future_allowance_us;
  for (const auto& a : recs) {
    if (a.last_modified_us > latest_allowed) {  // handed on below, but never a reason to move the cursor
      ++out.future;
      all_at_cursor = false;
      continue;
    }
    if (opt_.end_us && a.last_modified_us >= *opt_.end_us) {
      ++out.beyond_end;
      out.reached_end = true;
      all_at_cursor = false;
      continue;
    }
    if (floor_ms(a.last_modified_us) != cursor_us_) all_at_cursor = false;
    newest = std::max(newest, a.last_modified_us);
  }

  Micros next = newest == std::numeric_limits<Micros>::min() ? cursor_us_ : floor_ms(newest);

  std::unordered_set<std::string> kept_at_next;
  for (const auto& a : recs) {
    if (opt_.end_us && a.last_modified_us >= *opt_.end_us) continue;
    bool at_old_cursor = !cursor_.empty() && floor_ms(a.last_modified_us) <= cursor_us_;
    if (at_old_cursor && ids_at_cursor_.count(a.id)) {
      ++out.boundary_repeats;
    } else {
      out.alerts.push_back(a);
      if (at_old_cursor) ids_at_cursor_.insert(a.id);
    }
    if (a.last_modified_us >= next) kept_at_next.insert(a.id);
  }

  // Stuck: a full page, every record at the cursor instant, nothing new. Repeating the query cannot help.
  bool stuck =
      all_at_cursor && !out.caught_up && !out.reached_end && next == cursor_us_ && out.alerts.empty();
  if (stuck && size_ < opt_.max_size) {
    size_ = opt_.max_size;  // a bigger page may get past the tie: try that before declaring the cursor stuck
    stuck = false;
  }
  if (stuck && !opt_.tie_email_statuses.empty()) {
    start_tie();  // read the instant in slices; the cursor stays on it until they are done
    return out;
  }
  if (stuck) {
    out.stuck = StuckCursor{cursor_, ids_at_cursor_.size(), {}, std::nullopt, 0, 0};
    move_cursor(cursor_us_ + 1000);  // +1 ms: loud, recorded, and the only way forward with v1
    out.stuck->resumed_from = cursor_;
    return out;
  }
  if (newest != std::numeric_limits<Micros>::min() && (next != cursor_us_ || cursor_.empty())) {
    move_cursor(next);
    ids_at_cursor_ = std::move(kept_at_next);
  }
  return out;
}

// First narrow the page (a sixteenth, but more than the records already handed on at the cursor instant, so
// that a narrowed page always holds a new record): the pages before the bad record are read. When that cannot
// narrow further, give up a range past the cursor: 1 s, twice as long with every skip in a row, at most an
// hour, never past the partition's end or (beyond 1 ms) past now.
UnreadableStep CursorPager::unreadable() {
  constexpr int kNarrowedPages = 8;
  UnreadableStep s;
  if (tie_ != Tie::None) {  // a tie's slice keeps failing: the instant is given up, paging goes on after it
    tie_ = Tie::None;
    slices_.clear();
    s.from = cursor_;
    move_cursor(cursor_us_ + 1000);
    s.to = cursor_;
    ++skips_;
    return s;
  }
  int narrow = std::max(size_ / 16, static_cast<int>(ids_at_cursor_.size()) + 1);
  if (skips_ == 0 && narrow < size_) {  // once skipping, skip on (a readable page ends the run)
    size_ = narrow;
    narrowed_pages_ = kNarrowedPages;
    s.narrowed = true;
    return s;
  }
  Micros now = opt_.clock();
  Micros from = cursor_.empty() ? floor_ms(now - 90 * kMicrosPerDay) : cursor_us_;
  Micros step = std::min<Micros>(kMicrosPerSecond << std::min(skips_, 12), 3600 * kMicrosPerSecond);
  Micros to = std::min(from + step, std::max(from + 1000, floor_ms(now)));
  if (opt_.end_us && to >= *opt_.end_us) {
    to = *opt_.end_us;
    s.reached_end = true;
  }
  ++skips_;
  s.from = format_vendor(from);
  move_cursor(floor_ms(to));
  s.to = cursor_;
  return s;
}

}  // namespace etp2s
