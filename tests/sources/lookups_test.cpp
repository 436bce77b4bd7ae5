// Lookup rows (sources/lookups.h): alert details and an alerted message's trace become rows with exactly
// their schema file's columns; hostile records (not objects, wrong types, no id) give nulls or are set aside,
// never a crash.
#include "sources/lookups.h"
#include "sources/trace.h"

#include <gtest/gtest.h>

#include "common/stream.h"
#include "tests/support/schema_columns.h"

using namespace etp2s;
using etp2s::testing::expect_schema_columns;

namespace {

// A details record shaped as the vendor documents it (GET /api/v1/alerts/{id}, data[0]).
OrderedJson details_record() {
  return OrderedJson::parse(R"({
    "id": "alert-1",
    "attributes": {
      "alert": {"severity": "crit", "action": "blocked", "name": "MALWARE_OBJECT", "ack": "no",
                "explanation": {"malware_detected": {"malware": [
                    {"name": "Phish.LIVE", "stype": "known-malware", "md5sum": "aa11", "sha256": "bb22",
                     "type": "link"},
                    {"name": "Trojan.X", "md5sum": "cc33", "sha256": "dd44"}]},
                    "os_changes": [], "cnc_services": {}}},
      "email": {"etp_message_id": "msg-1", "status": "quarantined"}}})");
}

const Micros kVersion = 1'764'000'000'000'000;  // 2025-11-24T16:00:00Z

}  // namespace

TEST(DetailsRow, HasTheSchemaColumnsTheHashesAndTheExplanation) {
  Lookup l{kDetailsQueue, "alert-1", kVersion};
  auto row = details_row(l, details_record(), kLogsIngestionLimits);
  ASSERT_TRUE(row);
  expect_schema_columns(kDetailsTable, row->json);
  auto j = nlohmann::json::parse(row->json);
  EXPECT_EQ(j["AlertId"], "alert-1");
  EXPECT_EQ(j["EtpMessageId"], "msg-1");
  EXPECT_EQ(j["Severity"], "crit");
  EXPECT_EQ(j["Action"], "blocked");
  EXPECT_EQ(j["EmailStatus"], "quarantined");
  EXPECT_EQ(j["Md5"], nlohmann::json::array({"aa11", "cc33"}));
  EXPECT_EQ(j["Sha256"], nlohmann::json::array({"bb22", "dd44"}));
  EXPECT_EQ(j["Malware"].size(), 2u);
  EXPECT_TRUE(j["Explanation"].contains("os_changes"));
  EXPECT_FALSE(j["RawDetails"]["attributes"]["alert"].contains("explanation")) << "kept once, in Explanation";
  EXPECT_EQ(j["LastModifiedOn"], j["TimeGenerated"]);
  EXPECT_EQ(row->key, "details|alert-1|" + std::to_string(kVersion));
  EXPECT_EQ(row->time_us, kVersion);
}

TEST(DetailsRow, OddRecordsGiveNullsAndNonObjectsAreRefused) {
  Lookup l{kDetailsQueue, "alert-2", kVersion};
  auto odd = OrderedJson::parse(R"({"attributes": {"alert": {"severity": 3, "explanation": "text",
                                    "action": null}, "email": []}})");
  auto row = details_row(l, odd, kLogsIngestionLimits);
  ASSERT_TRUE(row);
  expect_schema_columns(kDetailsTable, row->json);
  auto j = nlohmann::json::parse(row->json);
  EXPECT_EQ(j["AlertId"], "alert-2") << "the queued id when the record has none";
  EXPECT_EQ(j["Severity"], "3");
  EXPECT_EQ(j["Md5"], nlohmann::json::array());
  EXPECT_FALSE(details_row(l, OrderedJson::array({1, 2}), kLogsIngestionLimits));
  EXPECT_FALSE(details_row(l, OrderedJson("text"), kLogsIngestionLimits));
}

TEST(DetailsRow, AHugeExplanationIsTruncatedAndNamed) {
  Lookup l{kDetailsQueue, "alert-3", kVersion};
  auto rec = details_record();
  rec["attributes"]["alert"]["explanation"]["analysis"] = std::string(200'000, 'x');
  auto row = details_row(l, rec, kLogsIngestionLimits);
  ASSERT_TRUE(row);
  EXPECT_LT(row->json.size(), kLogsIngestionLimits.row_bytes);
  auto j = nlohmann::json::parse(row->json);
  EXPECT_NE(std::find(j["TruncatedFields"].begin(), j["TruncatedFields"].end(), "Explanation"),
            j["TruncatedFields"].end());
}

TEST(TraceRow, HasTheSchemaColumnsAndIsKeyedByTheMessageVersion) {
  Lookup l{kTraceQueue, "outbound|msg-9", kVersion};
  auto rec = OrderedJson::parse(R"({"id": "msg-9", "acceptedDateTime": "2025-11-24T15:59:00.000Z",
      "lastModifiedDateTime": "2025-11-24T16:00:05.000Z", "senderIP": "198.51.100.7", "status": "delivered",
      "verdicts": {"AS": "clean", "AV": "clean"}, "recipientSMTP": ["a@contoso.test", "b@contoso.test"],
      "downStreamMsgID": "250 OK", "originalMessageID": "<x@y>", "urlDomains": ["evil.example"]})");
  auto row = trace_row(l, rec, kLogsIngestionLimits);
  ASSERT_TRUE(row);
  expect_schema_columns(kTraceTable, row->json);
  auto j = nlohmann::json::parse(row->json);
  EXPECT_EQ(j["EtpMessageId"], "msg-9");
  EXPECT_EQ(j["TrafficType"], "outbound");
  EXPECT_EQ(j["TraceSource"], "alerted");
  EXPECT_EQ(j["Status"], "delivered");
  EXPECT_EQ(j["Recipients"].size(), 2u);
  EXPECT_EQ(j["LastModifiedDateTime"], "2025-11-24T16:00:05.000Z");
  EXPECT_EQ(row->key, "trace|outbound|msg-9|" + std::to_string(kVersion + 5 * kMicrosPerSecond))
      << "a status change later is a new version";
  EXPECT_FALSE(trace_row(l, OrderedJson::array(), kLogsIngestionLimits));
}

TEST(Lookups, AnAlertCallsForItsDetailsAndItsMessagesTrace) {
  auto v = lookups_for_alert("a1", "m1", "inbound", 42);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].queue, kDetailsQueue);
  EXPECT_EQ(v[0].id, "a1");
  EXPECT_EQ(v[1].queue, kTraceQueue);
  EXPECT_EQ(v[1].id, "inbound|m1");
  EXPECT_EQ(lookups_for_alert("a1", "", "inbound", 42).size(), 1u) << "no message id, no trace lookup";
  EXPECT_NE(lookup_mark(v[0]).key, lookup_mark(v[1]).key);
  EXPECT_EQ(lookup_queue_of(kDetailsSource), kDetailsQueue);
  EXPECT_EQ(lookup_queue_of("alerts-v1"), "");
}
