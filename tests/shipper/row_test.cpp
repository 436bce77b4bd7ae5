#include "shipper/row.h"

#include <gtest/gtest.h>

#include "tests/support/alerts.h"

using namespace etp2s;
using etp2s::testing::make_alert;

TEST(Row, HasExactlyTheSchemaColumnsInOrderWithTheirTypes) {
  Alert a = make_alert(7);
  auto row = nlohmann::ordered_json::parse(build_row(a, nullptr).json);
  const auto& cols = row_schema()["columns"];
  ASSERT_EQ(row.size(), cols.size());
  std::size_t i = 0;
  for (auto it = row.begin(); it != row.end(); ++it, ++i) {
    EXPECT_EQ(it.key(), cols[i]["name"]) << i;
    const std::string type = cols[i]["type"];
    const auto& v = it.value();
    if (v.is_null()) continue;
    bool ok = type == "dynamic" || ((type == "string" || type == "datetime") && v.is_string()) ||
              (type == "long" && v.is_number_integer()) || (type == "boolean" && v.is_boolean());
    EXPECT_TRUE(ok) << it.key() << " should be " << type;
  }
  EXPECT_EQ(row_schema()["table"], "FireEyeETPAlerts_CL");
  EXPECT_EQ(row_schema()["stream"], "Custom-FireEyeETPAlerts_CL");
}

TEST(Row, MapsTheVendorFieldsAndKeepsTheRawAlert) {
  Alert a = make_alert(7);
  auto row = nlohmann::json::parse(build_row(a, nullptr).json);
  EXPECT_EQ(row["TimeGenerated"], "2026-11-20T10:00:07.007Z");
  EXPECT_EQ(row["LastModifiedOn"], "2026-11-20T10:00:07.007Z");
  EXPECT_EQ(row["AlertTimestamp"], "2026-11-20T10:00:00.036Z");
  EXPECT_EQ(row["AcceptedTime"], "2026-11-20T09:59:41.000Z");
  EXPECT_EQ(row["AlertId"], "alert-7");
  EXPECT_EQ(row["EtpMessageId"], "msg-3");
  EXPECT_EQ(row["LegacyId"], 85534373);
  EXPECT_EQ(row["TrafficType"], "inbound");
  EXPECT_EQ(row["EmailStatus"], "quarantined");
  EXPECT_EQ(row["AlertTypes"], nlohmann::json::array({"at"}));
  EXPECT_EQ(row["Subject"], "Invoice overdue");
  EXPECT_EQ(row["Acknowledged"], false);
  EXPECT_TRUE(row["Details"].is_null());
  EXPECT_EQ(row["TruncatedFields"], nlohmann::json::array());
  EXPECT_EQ(row["RawAlert"].dump(), nlohmann::json::parse(a.raw.dump()).dump());
  EXPECT_EQ(row["ConnectorVersion"], ETP2S_VERSION);
}

TEST(Row, SparseAlertsGiveNullsNotErrors) {
  auto page = parse_summary(
      R"({"data":[{"id":"1","attributes":{"meta":{"last_modified_on":"2023-08-01T14:29:33.699"}}}]})");
  auto row = nlohmann::json::parse(build_row(page->alerts[0], nullptr).json);
  EXPECT_EQ(row["EtpMessageId"], "");
  EXPECT_TRUE(row["LegacyId"].is_null());
  EXPECT_TRUE(row["AcceptedTime"].is_null());
  EXPECT_TRUE(row["Read"].is_null());
  EXPECT_EQ(row["TimeGenerated"], "2023-08-01T14:29:33.699Z");
}

TEST(Row, HostileAndUnicodeStringsSurviveExactly) {
  const std::string subject =
      std::string("\"q\" \\ </script> \u00dcber \u2603 \U0001F4B8 \x01\t\n") + '\0' + "end";
  Alert a = make_alert(1, subject);
  auto row = nlohmann::json::parse(build_row(a, nullptr).json);
  EXPECT_EQ(row["Subject"], subject);
  EXPECT_EQ(row["RawAlert"]["attributes"]["email"]["headers"]["subject"], subject);
}

TEST(Row, A300KbSubjectIsTruncatedByTheShipperAndMarked) {
  std::string subject(300 * 1024, 'x');
  subject.replace(1000, 3, "\u2603");  // multi-byte character somewhere
  Alert a = make_alert(2, subject + "\u00fc\u00fc\u00fc");
  Row r = build_row(a, nullptr);
  auto row = nlohmann::json::parse(r.json);  // still valid JSON and valid UTF-8
  EXPECT_LE(row["Subject"].get<std::string>().size() + 2, kLogsIngestionLimits.field_bytes);
  EXPECT_NE(row["Subject"].get<std::string>().find("[truncated by etp2sentinel]"), std::string::npos);
  EXPECT_LE(row["RawAlert"].dump().size(), kLogsIngestionLimits.field_bytes);
  EXPECT_EQ(row["RawAlert"]["id"], "alert-2");  // the rest of the raw alert is intact
  EXPECT_EQ(row["TruncatedFields"], nlohmann::json::array({"Subject", "RawAlert"}));
  Row dc = build_row(a, nullptr, kDataCollectorLimits);
  EXPECT_LE(nlohmann::json::parse(dc.json)["Subject"].get<std::string>().size() + 2,
            kDataCollectorLimits.field_bytes);
}

TEST(Row, DetailsAreShippedWhenEnrichmentIsOn) {
  Alert a = make_alert(3);
  OrderedJson details = {{"attributes", {{"alert", {{"severity", "crit"}}}}}};
  auto row = nlohmann::json::parse(build_row(a, &details).json);
  EXPECT_EQ(row["Details"]["attributes"]["alert"]["severity"], "crit");
}
