#include "common/pager.h"

#include <gtest/gtest.h>

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
