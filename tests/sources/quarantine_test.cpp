// The quarantine source (sources/quarantine.h): a newest-first API read downwards. Against etp-sim (the
// documented shape) and against a tiny server that answers one second with more records than a page holds.
#include "sources/quarantine.h"

#include <httplib.h>

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "common/stream.h"
#include "sim/etp/etp_sim.h"
#include "tests/support/read_pages.h"
#include "tests/support/schema_columns.h"

using namespace etp2s;

using etp2s::testing::client_for;
using etp2s::testing::read_all;

TEST(QuarantineCursor, RoundTripsAndRefusesWhatItDidNotWrite) {
  QuarantineCursor c{true, 1000, 5000, 4000};
  auto back = QuarantineCursor::decode(c.encode());
  ASSERT_TRUE(back);
  EXPECT_TRUE(back->live);
  EXPECT_EQ(back->floor, 1000);
  EXPECT_EQ(back->top, 5000);
  EXPECT_EQ(back->mark, 4000);
  auto range = QuarantineCursor::decode(QuarantineCursor{false, 7, std::nullopt, std::nullopt}.encode());
  ASSERT_TRUE(range);
  EXPECT_FALSE(range->live);
  EXPECT_FALSE(range->top);
  for (const char* bad : {"", "-", "2026-11-30T00:00:00.000", "q1;", "q1;live", "q1;floor=1",
                          "q1;live;floor=x", "q1;live;floor=1;top=2x", "q1;live;floor=1;evil=3"})
    EXPECT_FALSE(QuarantineCursor::decode(bad)) << bad;
}

TEST(QuarantineRow, HasTheSchemaColumnsAndAReleaseIsANewVersion) {
  auto rec = OrderedJson::parse(R"({"message_id": "msg-1", "from": "a@evil.example", "to": "u@contoso.test",
      "recipients": ["u@contoso.test"], "subject": "Invoice", "domain": "contoso.test",
      "sender_domain": "evil.example", "sender_ip": "198.51.100.1", "country_code": "US",
      "timestamp_quarantine": "2026-11-29T10:00:00", "timestamp_sent": "2026-11-29T09:59:58",
      "verdict_as": "spam", "verdict_av": "clean", "verdict_ex": "malicious", "verdict_pv": "",
      "attachments": ["invoice.pdf"], "released": []})");
  auto held = quarantine_row(rec, kLogsIngestionLimits);
  ASSERT_TRUE(held);
  etp2s::testing::expect_schema_columns(kQuarantineTable, held->json);
  auto row = nlohmann::json::parse(held->json);
  EXPECT_EQ(row["EtpMessageId"], "msg-1");
  EXPECT_EQ(row["QuarantinedAt"], "2026-11-29T10:00:00.000Z");
  EXPECT_EQ(row["IsReleased"], false);
  rec["released"] = OrderedJson::parse(R"([{"email_id": 1, "is_released": true, "key": "k"}])");
  auto rel = quarantine_row(rec, kLogsIngestionLimits);
  ASSERT_TRUE(rel);
  EXPECT_EQ(nlohmann::json::parse(rel->json)["IsReleased"], true);
  EXPECT_NE(rel->key, held->key) << "a release must be shipped as a new version";
  EXPECT_EQ(rel->time_us, held->time_us);
  rec.erase("message_id");
  EXPECT_FALSE(quarantine_row(rec, kLogsIngestionLimits));
  EXPECT_FALSE(quarantine_row(OrderedJson::array(), kLogsIngestionLimits));
}

TEST(QuarantineSource, BackfillPartitionsReadDownwardsDeliverEveryQuarantinedMessageOnce) {
  sim::EtpSimOptions o;
  o.alerts = 600;
  o.days = 2;
  o.rate_limit_per_min = 100000;
  o.late_percent = 0;
  sim::EtpSim etp(o);
  Config c;
  c.etp_page_size = 7;  // many pages, many inclusive boundaries
  SourceContext ctx{c, client_for(etp.base_url(), o.api_key), kLogsIngestionLimits};
  auto source = make_quarantine_source(ctx);
  auto parts = source->plan({now_micros(), 2, 2, {"inbound"}, {}});
  ASSERT_EQ(parts.size(), 3u);
  std::multiset<std::string> got;
  for (const auto& p : parts) {
    auto reader = source->open({p.traffic_type, p.cursor, p.end_us});
    ASSERT_TRUE(reader);
    auto r = read_all(*reader);
    EXPECT_TRUE(r.gaps.empty());
    for (const auto& row : r.rows)
      got.insert(nlohmann::json::parse(row.json)["EtpMessageId"].get<std::string>());
    if (p.live()) {
      EXPECT_TRUE(r.caught_up) << "the live partition's first poll reaches its mark";
    }
  }
  std::set<std::string> truth;
  for (const auto& t : etp.quarantine_truth()) truth.insert(t["message_id"]);
  ASSERT_GT(truth.size(), 50u);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), truth);
  EXPECT_EQ(got.size(), truth.size()) << "a message read twice across the inclusive boundaries";
  EXPECT_FALSE(source->open({"any", "not a quarantine cursor", std::nullopt}))
      << "a foreign cursor is refused";
}

TEST(QuarantineSource, TheLivePollMovesItsMarkOnlyWhenItReachedTheOldMark) {
  sim::EtpSimOptions o;
  o.alerts = 300;
  o.days = 1;
  o.rate_limit_per_min = 100000;
  o.late_percent = 0;
  sim::EtpSim etp(o);
  Config c;
  c.etp_page_size = 5;
  SourceContext ctx{c, client_for(etp.base_url(), o.api_key), kLogsIngestionLimits};
  auto source = make_quarantine_source(ctx);
  Micros floor = now_micros() - kMicrosPerDay;
  auto reader =
      source->open({"any", QuarantineCursor{true, floor, std::nullopt, std::nullopt}.encode(), std::nullopt});
  auto first = reader->read_page();
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(first->finished()) << "more than one page of quarantine in a day";
  auto mid = QuarantineCursor::decode(first->cursor);
  ASSERT_TRUE(mid);
  EXPECT_EQ(mid->floor, floor) << "the mark must not move before the poll reached it";
  ASSERT_TRUE(mid->mark);
  ASSERT_TRUE(mid->top);
  auto rest = read_all(*reader);
  ASSERT_TRUE(rest.caught_up);
  auto done = QuarantineCursor::decode(rest.cursor);
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->live);
  EXPECT_EQ(done->floor, *mid->mark) << "the new mark is the newest quarantine time seen";
  EXPECT_FALSE(done->top);
}

TEST(QuarantineSource, MoreMessagesOnOneSecondThanAPageHoldsIsARecordedGapNotALoop) {
  httplib::Server server;
  int calls = 0;
  server.Post("/api/v1/quarantine", [&](const httplib::Request&, httplib::Response& res) {
    ++calls;
    OrderedJson data = OrderedJson::array();
    for (int i = 0; i < 5; ++i)
      data.push_back(
          {{"message_id", "tie-" + std::to_string(i)}, {"timestamp_quarantine", "2026-11-29T10:00:00"}});
    res.set_content(OrderedJson{{"data", data}}.dump(), "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  Config c;
  c.etp_page_size = 5;
  SourceContext ctx{c, client_for("http://127.0.0.1:" + std::to_string(port), "k"), kLogsIngestionLimits};
  auto source = make_quarantine_source(ctx);
  Micros tie = *parse_time("2026-11-29T10:00:00");
  auto reader =
      source->open({"any", QuarantineCursor{false, tie - 3600 * kMicrosPerSecond, tie, std::nullopt}.encode(),
                    std::nullopt});
  auto page = reader->read_page();
  server.stop();
  t.join();
  ASSERT_TRUE(page.ok());
  ASSERT_TRUE(page->gap) << "the stuck second is recorded";
  EXPECT_EQ(page->gap->count, 5u);
  auto next = QuarantineCursor::decode(page->cursor);
  ASSERT_TRUE(next && next->top);
  EXPECT_EQ(*next->top, tie - kMicrosPerSecond) << "resumed one second lower, never the same request again";
  EXPECT_EQ(page->rows.size(), 5u) << "what could be read is delivered";
  EXPECT_EQ(calls, 1);
}
