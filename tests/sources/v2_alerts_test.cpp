// The v2 alert search: its cursor, its query body, its page shapes (synthetic: no public sample exists), its
// rows, and the v2 details row that brings the etp_message_id.
#include "sources/v2_alerts.h"

#include <gtest/gtest.h>

#include "common/etp_client.h"
#include "sources/lookups.h"
#include "sources/v1_alerts.h"
#include "tests/support/alerts.h"
#include "tests/support/schema_columns.h"

using namespace etp2s;

TEST(V2Cursor, KeepsTheTimeAndTheOpaqueSearchAfterAndReadsAV1CursorAsATime) {
  V2Cursor c{*parse_time("2026-11-20T10:00:07.000"), OrderedJson::array({1763632807000LL, "alert-7"})};
  std::string text = format_v2_cursor(c);
  EXPECT_EQ(text, "2026-11-20T10:00:07.000~[1763632807000,\"alert-7\"]");
  auto back = parse_v2_cursor(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at, c.at);
  EXPECT_EQ(back->search_after, c.search_after);
  EXPECT_EQ(cursor_time(text), c.at);  // the coordinator and status read the time alone

  auto v1 = parse_v2_cursor("2026-11-20T10:00:07.123");
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->at, *parse_time("2026-11-20T10:00:07.123"));
  EXPECT_TRUE(v1->search_after.is_null());
  EXPECT_EQ(format_v2_cursor(*v1), "2026-11-20T10:00:07.123");

  EXPECT_FALSE(parse_v2_cursor(""));
  EXPECT_FALSE(parse_v2_cursor("not a time~[1]"));
  auto broken = parse_v2_cursor("2026-11-20T10:00:07.000~[1,");  // a cut-off search_after re-reads the second
  ASSERT_TRUE(broken);
  EXPECT_TRUE(broken->search_after.is_null());
}

TEST(V2SearchBody, SendsAClosedRangeInWholeSecondsAscendingWithItsFilters) {
  V2SearchQuery q;
  q.from_us = *parse_time("2026-11-20T10:00:07.999");
  q.to_us = *parse_time("2026-11-20T11:00:00.000") - 1;
  q.traffic_type = "outbound";
  q.domains = {"contoso.test"};
  q.size = 200;
  q.search_after = OrderedJson::array({5, "x"});
  auto body = build_v2_search_body(q);
  ASSERT_TRUE(body) << body.error();
  auto j = nlohmann::json::parse(body.value());
  EXPECT_EQ(j["date_range"]["from"], "2026-11-20T10:00:07Z");
  EXPECT_EQ(j["date_range"]["to"], "2026-11-20T10:59:59Z");
  EXPECT_EQ(j["traffic_type"], "outbound");
  EXPECT_EQ(j["domain"], nlohmann::json::array({"contoso.test"}));
  EXPECT_EQ(j["size"], 200);
  EXPECT_EQ(j["sort"]["order"], "asc");
  EXPECT_EQ(j["sort"]["search_after"], nlohmann::json::array({5, "x"}));

  q.search_after = nullptr;
  q.domains.clear();
  j = nlohmann::json::parse(build_v2_search_body(q).value());
  EXPECT_FALSE(j["sort"].contains("search_after"));
  EXPECT_FALSE(j.contains("domain"));

  q.size = 201;
  EXPECT_FALSE(build_v2_search_body(q));
  q.size = 10;
  q.traffic_type = "sideways";
  EXPECT_FALSE(build_v2_search_body(q));
}

TEST(V2SearchPage, ReadsItemsWhereverTheUnclearRecordPutsThemAndRejectsUnusableOnes) {
  const char* item =
      R"({"id":"a1","alert_date":"2026-11-20T10:00:07Z","email_status":"quarantined","domain":"contoso.test"})";
  for (std::string body :
       {std::string(R"({"data":[)") + item + R"(],"meta":{"total":1,"search_after":[1,"a1"]}})",
        std::string(R"({"data":{"alerts":[)") + item + R"(]},"meta":{"search_after":[1,"a1"]}})",
        std::string(R"({"alerts":[)") + item + R"(],"meta":{"search_after":[1,"a1"]}})"}) {
    auto page = parse_v2_search(body, "inbound");
    ASSERT_TRUE(page) << body;
    ASSERT_EQ(page->alerts.size(), 1u) << body;
    EXPECT_EQ(page->alerts[0].id, "a1");
    EXPECT_EQ(page->alerts[0].last_modified_us, *parse_time("2026-11-20T10:00:07Z"));
    EXPECT_EQ(page->alerts[0].traffic_type, "inbound");
    EXPECT_TRUE(page->alerts[0].etp_message_id.empty());
    EXPECT_EQ(page->search_after, nlohmann::ordered_json::array({1, "a1"}));
  }
  auto mixed = parse_v2_search(
      R"({"data":[{"alert_date":"2026-11-20T10:00:07Z"},{"id":"b","alert_date":"yesterday"},7,
                  {"id":"c","alert_date":"2026-11-20T10:00:08+00:00","traffic_type":"outbound"}],"meta":{}})",
      "inbound");
  ASSERT_TRUE(mixed);
  ASSERT_EQ(mixed->alerts.size(), 1u);
  EXPECT_EQ(mixed->alerts[0].traffic_type, "outbound");
  EXPECT_EQ(mixed->rejected.size(), 3u);
  EXPECT_TRUE(mixed->search_after.is_null());
  EXPECT_FALSE(parse_v2_search(R"({"meta":{"total":3}})"));
  EXPECT_FALSE(parse_v2_search(R"({"data":[{"id":"a")"));
}

TEST(V2AlertRow, HasTheTableColumnsWithoutAMessageIdOrAModificationTime) {
  Alert a;
  a.id = "a1";
  a.last_modified_on = "2026-11-20T10:00:07Z";
  a.last_modified_us = *parse_time(a.last_modified_on);
  a.traffic_type = "outbound";
  a.raw = OrderedJson::parse(
      R"({"id":"a1","alert_date":"2026-11-20T10:00:07Z","accepted_time":"2026-11-20T10:00:01Z",
          "email_status":"quarantined","sha256":"ab","md5":"cd","domain":"contoso.test",
          "malware":[{"name":"Trojan.X","stype":"av"},{"name":"y","stype":"yara"}]})");
  Row row = v2_alert_row(a);
  etp2s::testing::expect_schema_columns("FireEyeETPAlerts_CL", row.json);
  auto j = nlohmann::json::parse(row.json);
  EXPECT_EQ(j["AlertId"], "a1");
  EXPECT_EQ(j["EtpMessageId"], "");
  EXPECT_TRUE(j["LastModifiedOn"].is_null());
  EXPECT_EQ(j["AlertTimestamp"], "2026-11-20T10:00:07.000Z");
  EXPECT_EQ(j["TimeGenerated"], "2026-11-20T10:00:07.000Z");
  EXPECT_EQ(j["AcceptedTime"], "2026-11-20T10:00:01.000Z");
  EXPECT_EQ(j["TrafficType"], "outbound");
  EXPECT_EQ(j["EmailStatus"], "quarantined");
  EXPECT_EQ(j["MalwareMd5"], "cd");
  EXPECT_EQ(j["Sha256"], "ab");
  EXPECT_EQ(j["LastMalware"], "Trojan.X");
  EXPECT_EQ(j["AlertTypes"], nlohmann::json::array({"av", "yara"}));
  EXPECT_EQ(j["RawAlert"]["domain"], "contoso.test");
  EXPECT_EQ(row.key, version_key("", "a1", a.last_modified_us));
}

TEST(V2DetailsRow, BringsTheMessageIdFromHyphenatedOrUnderscoredKeysWrappedOrNot) {
  std::string id = v2_details_id("outbound", "a1");
  EXPECT_EQ(id, "v2|outbound|a1");
  DetailsId d = parse_details_id(id);
  EXPECT_TRUE(d.v2);
  EXPECT_EQ(d.traffic_type, "outbound");
  EXPECT_EQ(d.alert_id, "a1");
  EXPECT_FALSE(parse_details_id("3yINFWA-1-abc").v2);
  EXPECT_EQ(parse_details_id("3yINFWA-1-abc").alert_id, "3yINFWA-1-abc");

  Lookup l{kDetailsQueue, id, *parse_time("2026-11-20T10:00:07Z")};
  for (const char* rec :
       {R"({"id":"a1","etp-message-id":"msg-9","severity":"majr","email-status":"quarantined",
            "malware":[{"name":"T","stype":"av","md5":"m1","sha256":"s1","downloaded-at":"2026-11-20T10:00:00Z"}]})",
        R"({"id":"a1","email":{"etp_message_id":"msg-9"},"severity":"majr","email_status":"quarantined",
            "malware":[{"name":"T","md5":"m1","sha256":"s1"}]})"}) {
    auto row = details_row(l, OrderedJson::parse(rec), kLogsIngestionLimits);
    ASSERT_TRUE(row) << rec;
    etp2s::testing::expect_schema_columns(kDetailsTable, row->json);
    auto j = nlohmann::json::parse(row->json);
    EXPECT_EQ(j["AlertId"], "a1");
    EXPECT_EQ(j["EtpMessageId"], "msg-9") << rec;
    EXPECT_EQ(j["ApiVersion"], "v2");
    EXPECT_EQ(j["Severity"], "majr");
    EXPECT_EQ(j["EmailStatus"], "quarantined");
    EXPECT_EQ(j["Md5"], nlohmann::json::array({"m1"}));
    EXPECT_EQ(j["Sha256"], nlohmann::json::array({"s1"}));
  }
}

TEST(V1Domains, AnAlertBelongsToAConfiguredDomainByItsRecipientInboundAndItsSenderOutbound) {
  Alert a = etp2s::testing::make_alert(1);
  a.raw["attributes"]["email"]["smtp"] = {{"rcpt_to", "x@Other.test, Boss <boss@Contoso.TEST>"},
                                          {"mail_from", "news@fabrikam.test"}};
  a.traffic_type = "inbound";
  EXPECT_TRUE(in_domains(a, {}));
  EXPECT_TRUE(in_domains(a, {"contoso.test"}));
  EXPECT_FALSE(in_domains(a, {"fabrikam.test"}));
  a.traffic_type = "outbound";
  EXPECT_TRUE(in_domains(a, {"fabrikam.test"}));
  EXPECT_FALSE(in_domains(a, {"contoso.test"}));
  a.raw["attributes"]["email"]["smtp"] = OrderedJson::object();
  EXPECT_TRUE(in_domains(a, {"contoso.test"}));  // nothing to tell by: kept
}
