#include "common/pager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

using namespace etp2s;

namespace {
SummaryPage page(std::vector<std::pair<std::string, std::string>> recs) {
  nlohmann::json data = nlohmann::json::array();
  for (auto& [id, lmo] : recs) {
    data.push_back({{"id", id}, {"attributes", {{"meta", {{"last_modified_on", lmo}}}}}});
  }
  return parse_summary(nlohmann::json{{"data", data}}.dump(), "inbound").value();
}
std::vector<std::string> ids(const PageResult& r) {
  std::vector<std::string> out;
  for (const auto& a : r.alerts) out.push_back(a.id);
  return out;
}
using V = std::vector<std::string>;
}  // namespace

TEST(Pager, ScrollsWithTheNewestTimeAndDropsInclusiveBoundaryRepeats) {
  PagerOptions o;
  o.size = 3;
  CursorPager p(o, "2023-08-01T00:00:00.000");
  EXPECT_EQ(p.next_query().from_last_modified_on, "2023-08-01T00:00:00.000");
  auto r1 = p.accept(page({{"1", "2023-08-01T14:29:33.699"},
                           {"2", "2023-08-01T14:30:33.699"},
                           {"3", "2023-08-01T14:30:33.699"}}));
  EXPECT_EQ(ids(r1), (V{"1", "2", "3"}));
  EXPECT_FALSE(r1.finished());
  EXPECT_EQ(p.cursor(), "2023-08-01T14:30:33.699");
  // The vendor repeats 2 and 3 (same instant) and adds 4.
  auto r2 = p.accept(page({{"2", "2023-08-01T14:30:33.699"},
                           {"3", "2023-08-01T14:30:33.699"},
                           {"4", "2023-08-01T14:31:00.000"}}));
  EXPECT_EQ(ids(r2), (V{"4"}));
  EXPECT_EQ(r2.boundary_repeats, 2u);
  auto r3 = p.accept(page({{"4", "2023-08-01T14:31:00.000"}}));
  EXPECT_TRUE(r3.alerts.empty());
  EXPECT_TRUE(r3.caught_up);
}

TEST(Pager, ANewAlertAtTheBoundaryInstantIsNotDropped) {
  PagerOptions o;
  o.size = 2;
  CursorPager p(o, "");
  EXPECT_FALSE(p.next_query().from_last_modified_on.has_value());
  p.accept(page({{"a", "2023-01-01T00:00:01.000"}, {"b", "2023-01-01T00:00:02.000"}}));
  // "c" shares b's instant but was not seen: it must be handed on.
  auto r = p.accept(page({{"b", "2023-01-01T00:00:02.000"}, {"c", "2023-01-01T00:00:02.000"}}));
  EXPECT_EQ(ids(r), (V{"c"}));
}

TEST(Pager, StopsAtThePartitionEndWithoutHandingOnWhatBelongsToTheNext) {
  PagerOptions o;
  o.size = 3;
  o.end_us = parse_time("2023-01-01T00:00:03.000");
  CursorPager p(o, "2023-01-01T00:00:00.000");
  auto r = p.accept(page({{"a", "2023-01-01T00:00:01.000"},
                          {"b", "2023-01-01T00:00:02.999"},
                          {"c", "2023-01-01T00:00:03.000"}}));
  EXPECT_EQ(ids(r), (V{"a", "b"}));
  EXPECT_TRUE(r.reached_end);
  EXPECT_EQ(r.beyond_end, 1u);
  EXPECT_EQ(p.cursor(), "2023-01-01T00:00:02.999");
}

TEST(Pager, StuckCursorFirstGrowsThePageThenSkipsLoudlyByOneMillisecond) {
  PagerOptions o;
  o.size = 2;
  CursorPager p(o, "2023-01-01T00:00:00.000");
  const std::string t = "2023-01-01T00:00:05.000";
  auto r1 = p.accept(page({{"x1", t}, {"x2", t}}));
  EXPECT_EQ(ids(r1), (V{"x1", "x2"}));
  // Same page again: no progress. The pager first retries with the largest page.
  auto r2 = p.accept(page({{"x1", t}, {"x2", t}}));
  EXPECT_FALSE(r2.stuck.has_value());
  EXPECT_EQ(p.size(), 200);
  // 200 alerts at one instant: truly stuck. Nothing loops forever; the skip is reported.
  std::vector<std::pair<std::string, std::string>> full;
  for (int i = 1; i <= 200; ++i) {
    // Appending (not `"x" + std::to_string(i)`): GCC 12 at -O3 warns falsely about that
    // operator+ (-Wrestrict inside char_traits' memcpy, GCC bug 105329).
    std::string id = "x";
    id += std::to_string(i);
    full.emplace_back(std::move(id), t);
  }
  auto r3 = p.accept(page(full));
  EXPECT_EQ(r3.alerts.size(), 198u);   // x3..x200 are new
  ASSERT_FALSE(r3.stuck.has_value());  // the cursor did not move, but new alerts came: try again
  auto r4 = p.accept(page(full));
  ASSERT_TRUE(r4.stuck.has_value());
  EXPECT_EQ(r4.stuck->at, t);
  EXPECT_EQ(r4.stuck->seen, 200u);
  EXPECT_EQ(r4.stuck->resumed_from, "2023-01-01T00:00:05.001");
  EXPECT_EQ(p.cursor(), "2023-01-01T00:00:05.001");
  EXPECT_TRUE(r4.alerts.empty());
}

TEST(Pager, FloorsMicrosecondTimesSoNothingBetweenIsSkipped) {
  PagerOptions o;
  o.size = 2;
  CursorPager p(o, "");
  p.accept(page({{"a", "2023-01-01T00:00:01.000"}, {"b", "2023-01-01T00:00:01.500900Z"}}));
  EXPECT_EQ(p.cursor(), "2023-01-01T00:00:01.500");
  auto r = p.accept(page({{"b", "2023-01-01T00:00:01.500900Z"}, {"c", "2023-01-01T00:00:01.500100Z"}}));
  EXPECT_EQ(ids(r), (V{"c"}));
}

// A page the vendor keeps answering with a body that cannot be read: first narrowed (so that the records
// before the bad one are read), then a range given up past the cursor, twice as long with every skip in a
// row, never past the partition's end; a readable page starts the ladder again and restores the size in time.
TEST(Pager, AnUnreadablePageIsNarrowedThenItsRangeGivenUpInGrowingStepsUpToTheEnd) {
  PagerOptions o;
  o.size = 200;
  o.end_us = *parse_time("2023-08-01T00:00:10.000");
  o.clock = [] { return *parse_time("2023-08-02T00:00:00.000"); };
  CursorPager p(o, "2023-08-01T00:00:00.000");
  UnreadableStep s = p.unreadable();
  EXPECT_TRUE(s.narrowed);
  EXPECT_EQ(p.next_query().size, 12);
  // The narrowed page reads on to the record before the bad one.
  p.accept(page({{"1", "2023-08-01T00:00:01.000"}, {"2", "2023-08-01T00:00:01.500"}}));
  EXPECT_EQ(p.cursor(), "2023-08-01T00:00:01.500");
  s = p.unreadable();  // one record handed on at the cursor instant: narrowed to 2 (one of them new)
  EXPECT_TRUE(s.narrowed);
  EXPECT_EQ(p.next_query().size, 2);
  s = p.unreadable();
  ASSERT_FALSE(s.narrowed);
  EXPECT_EQ(s.from, "2023-08-01T00:00:01.500");
  EXPECT_EQ(s.to, "2023-08-01T00:00:02.500");
  EXPECT_EQ(p.cursor(), "2023-08-01T00:00:02.500");
  s = p.unreadable();
  EXPECT_EQ(s.to, "2023-08-01T00:00:04.500");  // 2 s
  s = p.unreadable();
  EXPECT_EQ(s.to, "2023-08-01T00:00:08.500");  // 4 s
  EXPECT_FALSE(s.reached_end);
  s = p.unreadable();
  EXPECT_EQ(s.to, "2023-08-01T00:00:10.000");  // 8 s, but the partition ends first
  EXPECT_TRUE(s.reached_end);

  // A readable page resets the ladder; eight readable pages after narrowing, the usual size is back.
  CursorPager q(o, "2023-08-01T00:00:00.000");
  q.unreadable();
  ASSERT_EQ(q.next_query().size, 12);
  q.unreadable();  // nothing handed on at the cursor: narrowed to 1
  ASSERT_EQ(q.next_query().size, 1);
  EXPECT_EQ(q.unreadable().to, "2023-08-01T00:00:01.000");
  q.accept(page({{"a", "2023-08-01T00:00:01.100"}}));
  EXPECT_EQ(q.unreadable().to, "2023-08-01T00:00:02.100") << "one second again after a readable page";
  for (int i = 0; i < 7; ++i) {  // a full page at the narrowed size: more to read, the last one included
    EXPECT_FALSE(q.accept(page({{std::to_string(100 + i), "2023-08-01T00:00:03.000"}})).caught_up) << i;
  }
  EXPECT_EQ(q.next_query().size, 200);

  // At the head, never beyond now: a live partition's skip stops at the clock.
  PagerOptions live;
  live.size = 1;
  live.clock = [] { return *parse_time("2023-08-01T00:00:00.300"); };
  CursorPager h(live, "2023-08-01T00:00:00.000");
  EXPECT_EQ(h.unreadable().to, "2023-08-01T00:00:00.300");
}

namespace {
std::string named(char c, int i) {
  std::string s(1, c);
  s += std::to_string(i);
  return s;
}
// A vendor over a fixed set of alerts that honours the documented attribute filters and size 0 (count only).
struct Rec {
  std::string id, lmo, status;
  std::vector<std::string> types;
};
SummaryPage serve(const std::vector<Rec>& all, const SummaryQuery& q) {
  Micros from = q.from_last_modified_on ? *parse_time(*q.from_last_modified_on) : 0;
  std::vector<const Rec*> hits;
  for (const auto& r : all) {
    if (*parse_time(r.lmo) < from) continue;
    if (q.attributes.contains("email_status") && q.attributes["email_status"][0] != r.status) continue;
    if (q.attributes.contains("alert_types") &&
        std::find(r.types.begin(), r.types.end(), q.attributes["alert_types"][0]) == r.types.end())
      continue;
    hits.push_back(&r);
  }
  std::sort(hits.begin(), hits.end(), [](const Rec* a, const Rec* b) {
    return std::make_pair(*parse_time(a->lmo), a->id) < std::make_pair(*parse_time(b->lmo), b->id);
  });
  nlohmann::json data = nlohmann::json::array();
  for (std::size_t i = 0; i < hits.size() && static_cast<int>(i) < q.size; ++i)
    data.push_back({{"id", hits[i]->id}, {"attributes", {{"meta", {{"last_modified_on", hits[i]->lmo}}}}}});
  return parse_summary(nlohmann::json{{"data", data}, {"meta", {{"total", hits.size()}}}}.dump(), "inbound")
      .value();
}
// Pages until the pager is past `t` (or 100 requests); every alert handed on, and the last result.
std::pair<std::multiset<std::string>, std::vector<PageResult>> page_through(CursorPager& p,
                                                                            const std::vector<Rec>& all,
                                                                            int* requests) {
  std::multiset<std::string> got;
  std::vector<PageResult> results;
  for (*requests = 0; *requests < 100;) {
    ++*requests;
    auto r = p.accept(serve(all, p.next_query()));
    for (const auto& a : r.alerts) got.insert(a.id);
    results.push_back(r);
    if (r.caught_up) break;
  }
  return {got, results};
}
}  // namespace

// More alerts on one instant than the largest page: read in slices by email_status, a slice still full split
// by alert type, and checked against the vendor's count at the instant (two counting calls).
TEST(Pager, ATieIsReadWholeThroughAttributeSlicesCheckedAgainstTheCount) {
  const std::string t = "2023-01-01T00:00:05.000";
  std::vector<Rec> all = {{"before", "2023-01-01T00:00:01.000", "delivered", {"at"}}};
  for (int i = 0; i < 3; ++i) all.push_back({named('q', i), t, "quarantined", {"at"}});
  for (int i = 0; i < 3; ++i) all.push_back({named('d', i), t, "delivered", {"av"}});
  for (int i = 0; i < 4; ++i) all.push_back({named('r', i), t, "released", {i % 2 ? "at" : "yara"}});
  all.push_back({"after", "2023-01-01T00:00:06.000", "delivered", {"at"}});
  PagerOptions o;
  o.size = 4;
  o.max_size = 4;
  o.tie_email_statuses = {"quarantined", "delivered", "released", "dropped"};
  o.tie_alert_types = {"at", "yara"};
  CursorPager p(o, "2023-01-01T00:00:00.000");
  int requests = 0;
  auto [got, results] = page_through(p, all, &requests);
  std::set<std::string> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), unique.size()) << "an alert handed on twice";
  EXPECT_EQ(unique.size(), all.size());
  int read = 0;
  for (const auto& r : results) {
    EXPECT_FALSE(r.stuck.has_value());
    if (r.tie_read) {
      ++read;
      EXPECT_EQ(r.tie_read->at, t);
      EXPECT_EQ(r.tie_read->seen, 10u);
      EXPECT_EQ(r.tie_read->expected, 10);
      EXPECT_EQ(r.tie_read->slices, 6u);  // 4 statuses, released split into its 2 types
      EXPECT_EQ(r.tie_read->resumed_from, "2023-01-01T00:00:05.001");
    }
  }
  EXPECT_EQ(read, 1);
  // the first page, two at the instant (one new alert, then the same page again), 2 counts, 6 slices, 1 after
  EXPECT_EQ(requests, 12);
}

TEST(Pager, ATieNoSliceCanSplitIsAGapWithTheCountAndWhatWasRead) {
  const std::string t = "2023-01-01T00:00:05.000";
  std::vector<Rec> all;
  for (int i = 0; i < 6; ++i) all.push_back({named('x', i), t, "quarantined", {"at"}});
  for (int i = 0; i < 2; ++i) all.push_back({named('z', i), t, "a status nobody listed", {"at"}});
  PagerOptions o;
  o.size = 4;
  o.max_size = 4;
  o.tie_email_statuses = {"quarantined", "delivered"};
  o.tie_alert_types = {"at"};
  CursorPager p(o, "2023-01-01T00:00:00.000");
  int requests = 0;
  auto [got, results] = page_through(p, all, &requests);
  std::optional<StuckCursor> gap;
  for (const auto& r : results) {
    EXPECT_FALSE(r.tie_read.has_value());
    if (r.stuck) gap = r.stuck;
  }
  ASSERT_TRUE(gap);
  EXPECT_EQ(gap->at, t);
  EXPECT_EQ(gap->expected, 8);
  EXPECT_EQ(gap->seen, 4u);
  EXPECT_EQ(gap->unsplittable, 1u);  // quarantined/at is still full
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(p.cursor(), "2023-01-01T00:00:05.001");
  EXPECT_LT(requests, 20);
}

TEST(Pager, WithoutSliceFiltersATieIsAGapAsBefore) {
  const std::string t = "2023-01-01T00:00:05.000";
  std::vector<Rec> all;
  for (int i = 0; i < 6; ++i) all.push_back({named('x', i), t, "quarantined", {"at"}});
  PagerOptions o;
  o.size = 4;
  o.max_size = 4;
  CursorPager p(o, "2023-01-01T00:00:00.000");
  int requests = 0;
  auto [got, results] = page_through(p, all, &requests);
  bool stuck = false;
  for (const auto& r : results) stuck = stuck || r.stuck.has_value();
  EXPECT_TRUE(stuck);
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(requests, 3);  // the page, the same page again, then after the instant
}
