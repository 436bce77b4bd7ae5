#include <map>

#include <gtest/gtest.h>

#include "coordinator/coordinator.h"

using namespace etp2s;

TEST(Plan, SplitsTheWindowPerTrafficTypeWithAnOpenEndedLastPartition) {
  Micros now = 1795355100LL * kMicrosPerSecond;
  auto parts = plan_partitions({"alerts-v1"}, {now, 7, 4, {"inbound", "outbound"}, {}}, Config{});
  ASSERT_EQ(parts.size(), 8u);
  for (const std::string t : {"inbound", "outbound"}) {
    std::vector<Partition> mine;
    for (const auto& p : parts) {
      if (p.traffic_type == t) mine.push_back(p);
    }
    ASSERT_EQ(mine.size(), 4u);
    EXPECT_EQ(mine.front().start_us, (now - 7 * kMicrosPerDay) / 1000 * 1000);
    for (std::size_t i = 0; i + 1 < mine.size(); ++i) {
      ASSERT_TRUE(mine[i].end_us.has_value());
      EXPECT_EQ(*mine[i].end_us, mine[i + 1].start_us) << "partitions must tile the window without gaps";
    }
    EXPECT_FALSE(mine.back().end_us.has_value());
    EXPECT_TRUE(mine.back().live());
  }
  auto one = plan_partitions({"alerts-v1"}, {now, 90, 1, {"inbound"}, {}}, Config{});
  EXPECT_EQ(one.size(), 2u);
}

// Rates and ETAs are measured over the last minute, never divided by the time since the plan was made: a view
// made after a restart knows nothing until it has measured (not a rate 49× off), a pending partition's ETA is
// unknown (not 0), a done one's is 0.
TEST(Plan, ProgressReportsRatioLagAndTheRecentRate) {
  Micros now = 1795355100LL * kMicrosPerSecond;
  auto parts =
      plan_partitions({"alerts-v1"}, {now - 100 * kMicrosPerSecond, 2, 1, {"inbound"}, {}}, Config{});
  ASSERT_EQ(parts.size(), 2u);
  const Micros span = *parts[0].end_us - parts[0].start_us;
  parts[0].cursor = format_vendor(parts[0].start_us + span / 4);
  parts[0].delivered = 500;  // read before a restart
  ProgressView view;
  view.update(parts, now);
  auto d = describe_progress(parts, now, view.partitions());
  EXPECT_NEAR(d[0]["done_ratio"].get<double>(), 0.25, 0.001);
  EXPECT_EQ(d[0]["eta_s"].get<double>(), -1.0) << "nothing measured yet";
  EXPECT_EQ(d[0]["alerts_per_s"].get<double>(), 0.0);
  EXPECT_EQ(d[1]["eta_s"].get<double>(), -1.0) << "a pending partition: not known, not 0";
  EXPECT_TRUE(d[1].contains("lag_s"));
  // 50 s later another quarter is done and 250 more rows delivered: 5 rows/s, the last half in 100 s.
  parts[0].cursor = format_vendor(parts[0].start_us + span / 2);
  parts[0].delivered = 750;
  view.update(parts, now + 50 * kMicrosPerSecond);
  d = describe_progress(parts, now + 50 * kMicrosPerSecond, view.partitions());
  EXPECT_NEAR(d[0]["alerts_per_s"].get<double>(), 5.0, 0.01);
  EXPECT_NEAR(d[0]["eta_s"].get<double>(), 100.0, 0.5);
  EXPECT_EQ(d[1]["eta_s"].get<double>(), -1.0);
  auto j = view.to_json(now + 50 * kMicrosPerSecond);
  EXPECT_NEAR(j["partitions"][parts[0].id]["rows_per_s"].get<double>(), 5.0, 0.01);
  EXPECT_GT(j["streams"]["alerts-v1"]["eta_s"].get<double>(), 0) << j.dump();
  // Without a measurement (`status` with no coordinator running) no rate is shown at all.
  EXPECT_FALSE(describe_progress(parts, now, {})[0].contains("eta_s"));
  // A split ends the partition at its first cut (its share jumps without a page read: measured again from
  // then, not an ETA of seconds) and adds a piece (measured from its own first sample, not a minute later).
  parts[0].end_us = parts[0].start_us + 3 * span / 4;
  Partition piece = parts[0];
  piece.id = parts[0].id + "+piece";
  piece.start_us = *parts[0].end_us;
  piece.end_us = parts[0].start_us + span;
  piece.cursor = format_vendor(piece.start_us);
  piece.delivered = 0;
  parts.push_back(piece);
  view.update(parts, now + 51 * kMicrosPerSecond);
  EXPECT_EQ(view.partitions().at(parts[0].id).eta_s, -1.0) << "its end moved: nothing measured since";
  EXPECT_EQ(view.partitions().at(piece.id).eta_s, -1.0);
  parts[0].cursor = format_vendor(parts[0].start_us + 5 * span / 8);  // 2/3 → 5/6 of [start, 3/4) in 10 s
  parts[0].delivered = 850;
  parts[2].cursor = format_vendor(piece.start_us + span / 16);  // a quarter of the piece in 10 s
  parts[2].delivered = 100;
  view.update(parts, now + 61 * kMicrosPerSecond);
  EXPECT_NEAR(view.partitions().at(parts[0].id).eta_s, 10.0, 0.1);
  EXPECT_NEAR(view.partitions().at(parts[0].id).rows_per_s, 10.0, 0.01);
  EXPECT_NEAR(view.partitions().at(piece.id).eta_s, 30.0, 0.1);
  EXPECT_NEAR(view.partitions().at(piece.id).rows_per_s, 10.0, 0.01);
  parts[0].state = PartitionState::Done;
  view.update(parts, now + 70 * kMicrosPerSecond);
  EXPECT_EQ(view.partitions().at(parts[0].id).eta_s, 0.0);
}

TEST(Plan, WithV2AndDomainsEveryTimeSliceIsPlannedOncePerDomain) {
  Micros now = 1'800'000'000LL * kMicrosPerSecond;
  Config c;
  c.etp_api = "v2";
  c.etp_domains = {"contoso.test", "fabrikam.test"};
  auto parts = plan_partitions({"alerts-v1"}, {now, 7, 4, {"inbound", "outbound"}, c.etp_domains}, c);
  std::map<std::string, int> per_domain;
  for (const auto& p : parts) {
    ++per_domain[p.domain];
    EXPECT_NE(p.id.find("@" + p.domain), std::string::npos) << p.id;
  }
  ASSERT_EQ(per_domain.size(), 2u);
  EXPECT_EQ(per_domain["contoso.test"], per_domain["fabrikam.test"]);
  // Each domain's partitions cover the whole window per traffic type, exactly one open-ended.
  for (const auto& d : c.etp_domains) {
    for (const char* t : {"inbound", "outbound"}) {
      Micros start = now, live = 0;
      for (const auto& p : parts) {
        if (p.domain != d || p.traffic_type != t) continue;
        start = std::min(start, p.start_us);
        if (!p.end_us) ++live;
      }
      EXPECT_EQ(live, 1) << d << " " << t;
      EXPECT_LE(start, now - 7 * kMicrosPerDay + 1000);
    }
  }
  // v1 documents no domain filter: one set of partitions, the domains filtered on the rows.
  c.etp_api = "auto";
  auto v1 = plan_partitions({"alerts-v1"}, {now, 7, 4, {"inbound", "outbound"}, c.etp_domains}, c);
  for (const auto& p : v1) EXPECT_TRUE(p.domain.empty()) << p.id;
  EXPECT_EQ(v1.size(), parts.size());  // the fetchers' share is split among the domains
}

TEST(Plan, ARemainderIsSplitOnWholeSecondsIntoPiecesOfAtLeastTheMinimumSpan) {
  const Micros s = kMicrosPerSecond, from = 1000 * s + 250'000, end = 1000 * s + 3600 * s;
  auto cuts = split_points(from, end, 4, 60 * s);
  ASSERT_EQ(cuts.size(), 3u);
  Micros before = from;
  for (Micros c : cuts) {
    EXPECT_EQ(c % s, 0) << c;  // whole seconds: the v2 date_range cannot say less
    EXPECT_GT(c, before);
    EXPECT_GE(c - before, 60 * s);
    before = c;
  }
  EXPECT_GE(end - cuts.back(), 60 * s);
  // Roughly equal time: each piece within a second of a quarter.
  EXPECT_NEAR(static_cast<double>(cuts[1] - cuts[0]), static_cast<double>((end - from) / 4), 1e6);
  // Fewer pieces where the remainder is short; none where it is shorter than two minimum spans.
  EXPECT_EQ(split_points(from, from + 150 * s, 8, 60 * s).size(), 1u);
  EXPECT_TRUE(split_points(from, from + 100 * s, 8, 60 * s).empty());
  EXPECT_TRUE(split_points(from, end, 1, 60 * s).empty());
  EXPECT_TRUE(split_points(end, from, 4, 60 * s).empty());
}

TEST(Plan, TheCompleteKnowledgeOfAStreamEndsAtItsFirstUnfinishedPartition) {
  const Micros s = kMicrosPerSecond;
  auto part = [&](std::string id, std::string traffic, Micros start, std::optional<Micros> end,
                  PartitionState state, std::optional<Micros> cursor, std::string domain = "") {
    Partition p;
    p.id = std::move(id);
    p.traffic_type = std::move(traffic);
    p.domain = std::move(domain);
    p.start_us = start;
    p.end_us = end;
    p.state = state;
    if (cursor) p.cursor = format_vendor(*cursor);
    return p;
  };
  std::vector<Partition> parts{
      // inbound: a split piece (listed last in the plan) is done, the slice before it is half read
      part("in-00", "inbound", 0, 100 * s, PartitionState::Done, 99 * s),
      part("in-01", "inbound", 100 * s, 150 * s, PartitionState::Leased, 120 * s),
      part("in-02", "inbound", 200 * s, std::nullopt, PartitionState::Live, 250 * s),
      part("in-01+150", "inbound", 150 * s, 200 * s, PartitionState::Done, std::nullopt),
      // outbound: every slice done, the head caught up: its last successful poll, not its last alert
      part("out-00", "outbound", 0, 200 * s, PartitionState::Done, std::nullopt),
      part("out-01", "outbound", 200 * s, std::nullopt, PartitionState::Live, 230 * s),
  };
  parts.back().caught_up_us = 290 * s;
  // v2 with domains: the earliest domain
  parts.push_back(part("in-00@a", "inbound", 0, std::nullopt, PartitionState::Pending, std::nullopt, "a"));
  parts.push_back(part("in-00@b", "inbound", 0, std::nullopt, PartitionState::Leased, 40 * s, "b"));
  parts[6].source = parts[7].source = "alerts-v2";
  parts[7].caught_up_us = 0;  // still catching up: its cursor counts
  auto known = complete_until(parts);
  EXPECT_EQ(known.at({"alerts-v1", "inbound"}), 120 * s);
  EXPECT_EQ(known.at({"alerts-v1", "outbound"}), 290 * s);
  EXPECT_EQ(known.at({"alerts-v2", "inbound"}), 0);
  parts[1].state = PartitionState::Done;
  parts[2].caught_up_us = 300 * s;
  EXPECT_EQ(complete_until(parts).at({"alerts-v1", "inbound"}), 300 * s);
  // The piece listed last is the unfinished one: the chain is read in time order, not in plan order.
  parts[3].state = PartitionState::Leased;
  parts[3].cursor = format_vendor(160 * s);
  EXPECT_EQ(complete_until(parts).at({"alerts-v1", "inbound"}), 160 * s);
}

TEST(Plan, AHolderOfDenseDataKeepsAShortFirstPieceAndTheRestIsShared) {
  const Micros s = kMicrosPerSecond, from = 1000 * s, end = from + 36000 * s;
  // The holder's share ends at the first cut; the rest is cut in equal time among the other pieces.
  auto cuts = split_points(from, end, 3, 60 * s, from + 600 * s + 123);
  ASSERT_EQ(cuts.size(), 2u);
  EXPECT_EQ(cuts[0], from + 600 * s);  // on a whole second
  EXPECT_NEAR(static_cast<double>(cuts[1] - cuts[0]), static_cast<double>(end - cuts[1]), 1e6);
  // A first cut beyond an equal share, or too close to either end, is not used: equal time.
  EXPECT_EQ(split_points(from, end, 2, 60 * s, from + 30000 * s), split_points(from, end, 2, 60 * s));
  EXPECT_EQ(split_points(from, end, 2, 60 * s, from + 10 * s), split_points(from, end, 2, 60 * s));
}
