#include <gtest/gtest.h>

#include "coordinator/coordinator.h"

using namespace etp2s;

TEST(Plan, SplitsTheWindowPerTrafficTypeWithAnOpenEndedLastPartition) {
  Micros now = 1795355100LL * kMicrosPerSecond;
  auto parts = plan_partitions({"alerts-v1"}, {now, 7, 4, {"inbound", "outbound"}}, Config{});
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
  auto one = plan_partitions({"alerts-v1"}, {now, 90, 1, {"inbound"}}, Config{});
  EXPECT_EQ(one.size(), 2u);
}

TEST(Plan, ProgressReportsRatioLagAndEta) {
  Micros now = 1795355100LL * kMicrosPerSecond;
  auto parts = plan_partitions({"alerts-v1"}, {now - 100 * kMicrosPerSecond, 2, 1, {"inbound"}}, Config{});
  parts[0].cursor = format_vendor(parts[0].start_us + (*parts[0].end_us - parts[0].start_us) / 2);
  parts[0].delivered = 500;
  auto d = describe_progress(parts, now - 100 * kMicrosPerSecond, now);
  EXPECT_NEAR(d[0]["done_ratio"].get<double>(), 0.5, 0.001);
  EXPECT_NEAR(d[0]["alerts_per_s"].get<double>(), 5.0, 0.01);
  EXPECT_NEAR(d[0]["eta_s"].get<double>(), 100.0, 0.5);
  EXPECT_TRUE(d[1].contains("lag_s"));
}
