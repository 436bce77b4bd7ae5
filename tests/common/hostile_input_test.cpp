// Hostile vendor data and errors that carry secrets: met without a crash, a stall or a leak.
#include <gtest/gtest.h>

#include "common/budget.h"
#include "common/etp_model.h"
#include "common/json_guard.h"
#include "common/pager.h"
#include "common/state.h"
#include "tests/support/process.h"

using namespace etp2s;

namespace {

std::string page_with_subject(const std::string& subject_json_text,
                              const std::string& lmo = "2026-11-20T10:00:00.000") {
  return R"({"data":[{"id":"a1","attributes":{"meta":{"last_modified_on":")" + lmo +
         R"("},"email":{"etp_message_id":"m1","headers":{"subject":)" + subject_json_text +
         R"(}}}},{"id":"a2","attributes":{"meta":{"last_modified_on":")" + lmo +
         R"("}}}],"meta":{"total":2}})";
}

}  // namespace

TEST(JsonGuard, InvalidUtf8AndLoneSurrogatesAreRepairedProperPairsAndEscapesAreKept) {
  std::string bad =
      "\"caf\xC3\x28 \xFF ok \xE2\x82\xAC\"";  // broken 2-byte sequence, a stray 0xFF, a valid €
  EXPECT_EQ(repair_json_text(bad), 2u);
  EXPECT_EQ(bad, "\"caf\xEF\xBF\xBD( \xEF\xBF\xBD ok \xE2\x82\xAC\"");
  std::string lone =
      R"("\ud800 x \udc00 y \ud83d\ude00 z \\ud800")";  // high alone, low alone, a pair, escaped text
  EXPECT_EQ(repair_json_text(lone), 2u);
  EXPECT_EQ(lone, R"("\uFFFD x \uFFFD y \ud83d\ude00 z \\ud800")");
  std::string fine = "\"\xF0\x9F\x92\xB8 \\\" \\n\"";
  EXPECT_EQ(repair_json_text(fine), 0u);
  std::string overlong = "\"\xC0\xAF \xED\xA0\x80\"";  // overlong '/', an encoded surrogate
  EXPECT_GT(repair_json_text(overlong), 0u);
  EXPECT_FALSE(nlohmann::json::parse(overlong, nullptr, false).is_discarded());
}

TEST(JsonGuard, DepthIsMeasuredOutsideStrings) {
  EXPECT_TRUE(json_depth_within(R"({"a":[[{"b":"[[[[[[[[[[[[[[["}]]})", 4));
  EXPECT_FALSE(json_depth_within(std::string(100, '[') + std::string(100, ']'), 64));
  EXPECT_TRUE(json_depth_within(std::string(64, '[') + std::string(64, ']'), 64));
}

TEST(HostileVendorData, OneBrokenAlertDoesNotMakeThePageUnreadable) {
  auto page = parse_summary(page_with_subject("\"Invoice \xFF\xFE overdue\""), "inbound");
  ASSERT_TRUE(page.ok()) << page.error();
  ASSERT_EQ(page->alerts.size(), 2u) << "both alerts read; the broken bytes replaced";
  EXPECT_EQ(page->repaired, 2u);
  EXPECT_EQ(string_at(page->alerts[0].raw, {"attributes", "email", "headers", "subject"}),
            "Invoice \xEF\xBF\xBD\xEF\xBF\xBD overdue");
  auto surrogate = parse_summary(page_with_subject(R"("half an emoji \ud83d")"), "inbound");
  ASSERT_TRUE(surrogate.ok()) << surrogate.error();
  EXPECT_EQ(surrogate->alerts.size(), 2u);
  EXPECT_EQ(surrogate->repaired, 1u);
}

TEST(HostileVendorData, DeepNestingIsRefusedWithoutCrashing) {
  std::string deep = page_with_subject(std::string(100000, '[') + std::string(100000, ']'));
  auto page = parse_summary(deep, "inbound");
  ASSERT_FALSE(page.ok());
  EXPECT_NE(page.error().find("nests deeper"), std::string::npos) << page.error();
  EXPECT_TRUE(parse_vendor_errors(deep).empty());
}

TEST(HostileVendorData, AnAlertStampedIn2099DoesNotMoveTheCursorIntoTheFuture) {
  Micros now = *parse_time("2026-11-20T10:05:00.000");
  PagerOptions o;
  o.size = 3;
  o.clock = [now] { return now; };
  CursorPager pager(o, "2026-11-20T10:00:00.000");
  auto page = parse_summary(R"({"data":[
      {"id":"a1","attributes":{"meta":{"last_modified_on":"2026-11-20T10:01:00.000"}}},
      {"id":"future","attributes":{"meta":{"last_modified_on":"2099-01-01T00:00:00.000"}}}]})");
  ASSERT_TRUE(page.ok());
  PageResult r = pager.accept(page.value());
  EXPECT_EQ(r.alerts.size(), 2u) << "the future alert is still delivered";
  EXPECT_EQ(r.future, 1u);
  EXPECT_EQ(pager.cursor(), "2026-11-20T10:01:00.000") << "the 2099 alert moved the cursor";
  // An alert stamped 10:04 that becomes visible later is still ahead of the cursor and handed on.
  auto later = parse_summary(R"({"data":[
      {"id":"future","attributes":{"meta":{"last_modified_on":"2099-01-01T00:00:00.000"}}},
      {"id":"a3","attributes":{"meta":{"last_modified_on":"2026-11-20T10:04:00.000"}}}]})");
  PageResult r2 = pager.accept(later.value());
  bool a3 = false;
  for (const auto& a : r2.alerts) a3 = a3 || a.id == "a3";
  EXPECT_TRUE(a3) << "a later alert was skipped because of the 2099 one";
}

TEST(HostileVendorData, AHugeRetryAfterPausesTheRouteForAtMostFiveMinutes) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  Budget budget(redis, BudgetOptions{60}, "test");
  budget.pause("alerts", 999999999.0);
  long long wait_ms = budget.try_acquire("alerts", Priority::Paging);
  EXPECT_GT(wait_ms, 0);
  EXPECT_LE(wait_ms, static_cast<long long>(kMaxPauseS * 1000));
}

TEST(HostileVendorData, AFatalErrorEchoingASecretIsStoredRedacted) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  Secret key("the-etp-api-key-0123456789");
  store.set_fatal(fatal_code::kEtpAuth,
                  R"(ETP: HTTP 401 {"errors":[{"detail":"key the-etp-api-key-0123456789 is expired"}]})");
  auto raw = redis.command({"GET", "etp:fatal"});
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->str.find(key.reveal()), std::string::npos) << raw->str;
  EXPECT_NE(raw->str.find("[REDACTED]"), std::string::npos);
  ASSERT_TRUE(store.fatal().has_value());
  EXPECT_EQ(store.fatal()->code, "etp_auth");
  EXPECT_EQ(store.fatal()->detail.find(key.reveal()), std::string::npos);
}
