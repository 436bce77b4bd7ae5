// The whole message trace (sources/trace.h): its row, its page and query shapes, and the trace-all source
// read against etp-sim (every message, alerted or not, exactly once) and against a tiny server that answers
// one instant with more records than a page holds.
#include "sources/trace.h"

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

namespace {

// The shape of the public samples integrators test with (fields under `attributes`); synthetic values.
const char* kNestedRecord = R"({"id": "3yTEST-1-abc", "type": "trace",
  "included": [{"attributes": {"name": "sub.contoso.test"}, "type": "domain"}],
  "attributes": {"verdicts": {"AS": "", "AV": "", "AT": "pass", "PV": "pass"}, "domain": "contoso.test",
    "subject": "Quarterly report — Überblick", "acceptedDateTime": "2026-11-20T08:00:01.000",
    "lastModifiedDateTime": "2026-11-20T08:00:03.250", "originalMessageID": "<a1@mail.example>",
    "senderSMTP": "news@fabrikam.test", "senderIP": "203.0.113.9", "status": "delivered",
    "recipientSMTP": ["a@contoso.test", "b@contoso.test"], "emailSize": 12.5}})";

}  // namespace

TEST(TraceRow, ReadsThePublicSampleShapeAndIsKeyedByTheMessageVersion) {
  auto rec = OrderedJson::parse(kNestedRecord);
  auto row = trace_row("inbound", kTraceOriginStream, "", 0, rec, kLogsIngestionLimits);
  ASSERT_TRUE(row);
  etp2s::testing::expect_schema_columns(kTraceTable, row->json);
  auto j = nlohmann::json::parse(row->json);
  EXPECT_EQ(j["EtpMessageId"], "3yTEST-1-abc");
  EXPECT_EQ(j["TraceSource"], "trace");
  EXPECT_EQ(j["Status"], "delivered");
  EXPECT_EQ(j["Sender"], "news@fabrikam.test");
  EXPECT_EQ(j["Recipients"].size(), 2u);
  EXPECT_EQ(j["LastModifiedDateTime"], "2026-11-20T08:00:03.250Z");
  EXPECT_EQ(j["RawTrace"]["included"][0]["attributes"]["name"], "sub.contoso.test")
      << "the record is kept whole";
  Micros version = *parse_time("2026-11-20T08:00:03.250");
  EXPECT_EQ(row->key, "trace|inbound|3yTEST-1-abc|" + std::to_string(version));
  // The same version looked up for an alert is the same row (one row, whichever origin delivered it first).
  auto looked_up = trace_row("inbound", kTraceOriginAlerted, "x", 1, rec, kLogsIngestionLimits);
  ASSERT_TRUE(looked_up);
  EXPECT_EQ(looked_up->key, row->key);
  EXPECT_FALSE(trace_row("inbound", kTraceOriginStream, "", 0, OrderedJson::array(), kLogsIngestionLimits));
}

TEST(TracePage, ParsesBothShapesAndRejectsARecordWithoutItsVersionTime) {
  auto page = parse_trace_page(R"({"data": [
      {"id": "m1", "attributes": {"lastModifiedDateTime": "2026-11-20T08:00:03.250"}},
      {"id": "m2", "lastModifiedDateTime": "2026-11-20T08:00:04.000Z"},
      {"id": "m3", "attributes": {"status": "delivered"}},
      {"attributes": {"lastModifiedDateTime": "2026-11-20T08:00:05.000"}}],
    "meta": {"total": 4, "fromLastModifiedOn": {"start": "2026-11-20T08:00:03.250Z",
                                                "end": "2026-11-20T08:00:04.000Z"}}})",
                               "outbound");
  ASSERT_TRUE(page.ok()) << page.error();
  ASSERT_EQ(page->alerts.size(), 2u);
  EXPECT_EQ(page->alerts[0].etp_message_id, "m1") << "a trace record's id is its message id";
  EXPECT_EQ(page->alerts[1].last_modified_us, *parse_time("2026-11-20T08:00:04.000"));
  EXPECT_EQ(page->alerts[1].traffic_type, "outbound");
  ASSERT_EQ(page->rejected.size(), 2u);
  EXPECT_NE(page->rejected[0].reason.find("lastModifiedDateTime"), std::string::npos);
  EXPECT_EQ(page->cursor_end, "2026-11-20T08:00:04.000Z");
  EXPECT_FALSE(parse_trace_page(R"({"meta": {}})", "inbound").ok()) << "no data array";
}

TEST(TraceQuery, IsAnInclusiveFilterOnTheVersionTimeUpTo300Records) {
  SummaryQuery q;
  q.size = 300;
  q.traffic_type = "outbound";
  q.from_last_modified_on = "2026-11-20T08:00:03.250";
  auto body = build_trace_body(q);
  ASSERT_TRUE(body.ok()) << body.error();
  auto j = nlohmann::json::parse(body.value());
  EXPECT_EQ(j["attributes"]["lastModifiedDateTime"]["value"], "2026-11-20T08:00:03.250");
  EXPECT_EQ(j["attributes"]["lastModifiedDateTime"]["filter"], ">=");
  EXPECT_EQ(j["size"], 300);
  EXPECT_EQ(j["traffic_type"], "outbound");
  q.size = 301;
  EXPECT_FALSE(build_trace_body(q).ok());
  q.size = 10;
  q.from_last_modified_on = "yesterday";
  EXPECT_FALSE(build_trace_body(q).ok());
}

TEST(TraceAllSource, BackfillAndLivePartitionsDeliverEveryMessageVersionOnce) {
  sim::EtpSimOptions o;
  o.alerts = 1500;
  o.clean_messages = 1500;
  o.days = 2;
  o.rate_limit_per_min = 100000;
  o.late_percent = 0;
  sim::EtpSim etp(o);
  Config c;
  SourceContext ctx{c, client_for(etp.base_url(), o.api_key), kLogsIngestionLimits};
  auto source = make_trace_all_source(ctx);
  EXPECT_EQ(source->route(), "trace");
  EXPECT_TRUE(source->optional());
  auto parts = source->plan({now_micros(), 2, 2, {"inbound", "outbound"}, {}});
  ASSERT_EQ(parts.size(), 4u);
  EXPECT_EQ(parts[0].id, "trace-inbound-00");
  std::multiset<std::string> got;
  int pages = 0;
  for (const auto& p : parts) {
    EXPECT_EQ(p.source, kTraceAllSource);
    auto reader = source->open({p.traffic_type, p.cursor, p.end_us});
    auto r = read_all(*reader);
    pages += r.pages;
    EXPECT_TRUE(r.gaps.empty());
    for (const auto& row : r.rows) {
      auto j = nlohmann::json::parse(row.json);
      EXPECT_EQ(j["TrafficType"], p.traffic_type);
      got.insert(p.traffic_type + "|" + j["EtpMessageId"].get<std::string>() + "|" +
                 j["LastModifiedDateTime"].get<std::string>());
    }
    if (p.live()) {
      EXPECT_TRUE(r.caught_up);
    }
  }
  std::set<std::string> truth;
  int clean = 0;
  for (const auto& t : etp.trace_all_truth()) {
    truth.insert(t["traffic_type"].get<std::string>() + "|" + t["etp_message_id"].get<std::string>() + "|" +
                 t["last_modified"].get<std::string>() + "Z");
    clean += t["etp_message_id"].get<std::string>().rfind("3yCLEAN", 0) == 0;
  }
  ASSERT_GT(truth.size(), 2500u);
  EXPECT_EQ(clean, 1500) << "messages without an alert are in the whole trace";
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), truth);
  EXPECT_EQ(got.size(), truth.size()) << "a message version read twice across the inclusive boundaries";
  EXPECT_LE(pages, 4 + static_cast<int>(truth.size()) / 300 + 4) << "300 records a page";
}

TEST(TraceAllSource, MoreRecordsOnOneInstantThanAPageHoldsIsARecordedGapNotALoop) {
  httplib::Server server;
  int calls = 0;
  server.Post("/api/v1/messages/trace", [&](const httplib::Request& req, httplib::Response& res) {
    ++calls;
    EXPECT_EQ(nlohmann::json::parse(req.body)["size"], 300);
    OrderedJson data = OrderedJson::array();
    for (int i = 0; i < 300; ++i)
      data.push_back({{"id", "tie-" + std::to_string(i)},
                      {"attributes", {{"lastModifiedDateTime", "2026-11-29T10:00:00.000"}}}});
    res.set_content(OrderedJson{{"data", data}}.dump(), "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  Config c;
  SourceContext ctx{c, client_for("http://127.0.0.1:" + std::to_string(port), "k"), kLogsIngestionLimits};
  auto source = make_trace_all_source(ctx);
  auto reader = source->open({"inbound", "2026-11-29T10:00:00.000", std::nullopt});
  auto first = reader->read_page();
  auto second = reader->read_page();
  server.stop();
  t.join();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->rows.size(), 300u);
  EXPECT_FALSE(first->gap);
  ASSERT_TRUE(second->gap) << "the same full page at the cursor instant: recorded, not asked again forever";
  EXPECT_EQ(second->gap->count, 300u);
  EXPECT_TRUE(second->rows.empty()) << "nothing twice";
  EXPECT_EQ(second->cursor, "2026-11-29T10:00:00.001");
  EXPECT_EQ(calls, 2);
}

// A record the trace cannot use (no version time) is logged and dead-lettered whole with the trace's stream;
// the rest of the page is delivered.
TEST(TraceAllSource, ARecordWithoutItsVersionTimeIsSetAsideWholeAndThePageGoesOn) {
  httplib::Server server;
  server.Post("/api/v1/messages/trace", [&](const httplib::Request&, httplib::Response& res) {
    OrderedJson data = OrderedJson::array(
        {{{"id", "good"}, {"attributes", {{"lastModifiedDateTime", "2026-11-29T10:00:00.000"}}}},
         {{"id", "no-time"}, {"attributes", {{"status", "delivered"}, {"subject", "keep me"}}}}});
    res.set_content(OrderedJson{{"data", data}}.dump(), "application/json");
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread t([&] { server.listen_after_bind(); });
  Config c;
  SourceContext ctx{c, client_for("http://127.0.0.1:" + std::to_string(port), "k"), kLogsIngestionLimits};
  auto page =
      make_trace_all_source(ctx)->open({"inbound", "2026-11-29T09:00:00.000", std::nullopt})->read_page();
  server.stop();
  t.join();
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->rows.size(), 1u);
  ASSERT_EQ(page->set_aside.size(), 1u);
  EXPECT_NE(page->set_aside[0].why.find("lastModifiedDateTime"), std::string::npos);
  EXPECT_NE(page->set_aside[0].raw.find("keep me"), std::string::npos) << "the whole record is kept";
  EXPECT_EQ(page->rejected.size(), 1u) << "and logged";
}
