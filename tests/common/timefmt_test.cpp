#include "common/timefmt.h"

#include <gtest/gtest.h>

using namespace etp2s;

namespace {
// 2022-11-22T11:33:52Z
constexpr Micros kBase = 1669116832LL * kMicrosPerSecond;
}  // namespace

struct TimeCase {
  const char* text;
  Micros expected;
};

class TimeFormats : public ::testing::TestWithParam<TimeCase> {};

TEST_P(TimeFormats, ParsesToUtcMicros) {
  auto t = parse_time(GetParam().text);
  ASSERT_TRUE(t.has_value()) << GetParam().text;
  EXPECT_EQ(*t, GetParam().expected) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    EveryFormatInTheReference, TimeFormats,
    ::testing::Values(TimeCase{"2022-11-22T11:33:52.037", kBase + 37000},              // alerts, no zone
                      TimeCase{"2022-11-22T11:33:51.961608+00", kBase - 38392},        // db_insert_time
                      TimeCase{"2022-11-22T11:33:52.037Z", kBase + 37000},             // trace meta
                      TimeCase{"2022-11-22T11:33:52.037+0000Z", kBase + 37000},        // activity logs
                      TimeCase{"2022-11-22T11:33:52Z", kBase},                         // v2, RFC 3339
                      TimeCase{"2022-11-22T11:33:52+00:00", kBase},                    // RFC 3339 offset
                      TimeCase{"2022-11-22T13:33:52+02:00", kBase},                    // non-UTC offset
                      TimeCase{"2022-11-22T06:33:52-0500", kBase},                     // compact offset
                      TimeCase{"2022-11-22 11:33:52", kBase},                          // space separator
                      TimeCase{"2022-11-22T11:33:41", kBase - 11 * kMicrosPerSecond},  // accepted time
                      TimeCase{"2022-11-22T11:33:52.1234567", kBase + 123456},         // > 6 digits truncated
                      TimeCase{"2022-11-22", kBase - (11 * 3600 + 33 * 60 + 52) * kMicrosPerSecond},
                      TimeCase{"1970-01-01T00:00:00.000", 0},
                      TimeCase{"2024-02-29T00:00:00Z", 1709164800LL * kMicrosPerSecond}));

TEST(TimeFormats, RejectsGarbage) {
  for (const char* bad : {"", "yesterday", "2022-13-01T00:00:00", "2023-02-29T00:00:00",
                          "2022-11-22T25:00:00", "2022-11-22T11:33:52.", "2022-11-22T11:33:52+25:00",
                          "2022-11-22T11:33:52Zjunk", "20221122T113352", "2022-11-22T11:33:52.037 extra"}) {
    EXPECT_FALSE(parse_time(bad).has_value()) << bad;
  }
}

TEST(TimeFormats, FormatsRoundTrip) {
  EXPECT_EQ(format_iso_ms(kBase + 37000), "2022-11-22T11:33:52.037Z");
  EXPECT_EQ(format_vendor(kBase + 37999), "2022-11-22T11:33:52.037");  // floors: safe for an inclusive cursor
  EXPECT_EQ(format_day(kBase), "2022-11-22");
  EXPECT_EQ(format_rfc1123(1795355100LL * kMicrosPerSecond), "Sun, 22 Nov 2026 13:45:00 GMT");
  EXPECT_EQ(parse_rfc1123("Sun, 22 Nov 2026 13:45:00 GMT"), 1795355100LL * kMicrosPerSecond);
  EXPECT_FALSE(parse_rfc1123("Sun, 22 Nov 2026 13:45:00 CET").has_value());
}
