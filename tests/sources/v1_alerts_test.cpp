#include "sources/v1_alerts.h"
#include "common/stream.h"

#include <gtest/gtest.h>

#include "tests/support/alerts.h"
#include "tests/support/schema_columns.h"

using namespace etp2s;
using etp2s::testing::make_alert;

TEST(V1AlertRow, HasExactlyTheSchemaColumnsInOrderWithTheirTypes) {
  Alert a = make_alert(7);
  etp2s::testing::expect_schema_columns("FireEyeETPAlerts_CL", alert_row(a).json);
  const auto schema = find_stream("FireEyeETPAlerts_CL")->document;
  EXPECT_EQ(schema["table"], "FireEyeETPAlerts_CL");
  EXPECT_EQ(schema["stream"], "Custom-FireEyeETPAlerts_CL");
}

TEST(V1AlertRow, MapsTheVendorFieldsAndKeepsTheRawAlert) {
  Alert a = make_alert(7);
  auto row = nlohmann::json::parse(alert_row(a).json);
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

TEST(V1AlertRow, SparseAlertsGiveNullsNotErrors) {
  auto page = parse_summary(
      R"({"data":[{"id":"1","attributes":{"meta":{"last_modified_on":"2023-08-01T14:29:33.699"}}}]})");
  auto row = nlohmann::json::parse(alert_row(page->alerts[0]).json);
  EXPECT_EQ(row["EtpMessageId"], "");
  EXPECT_TRUE(row["LegacyId"].is_null());
  EXPECT_TRUE(row["AcceptedTime"].is_null());
  EXPECT_TRUE(row["Read"].is_null());
  EXPECT_EQ(row["TimeGenerated"], "2023-08-01T14:29:33.699Z");
}

TEST(V1AlertRow, HostileAndUnicodeStringsSurviveExactly) {
  const std::string subject =
      std::string("\"q\" \\ </script> \u00dcber \u2603 \U0001F4B8 \x01\t\n") + '\0' + "end";
  Alert a = make_alert(1, subject);
  auto row = nlohmann::json::parse(alert_row(a).json);
  EXPECT_EQ(row["Subject"], subject);
  EXPECT_EQ(row["RawAlert"]["attributes"]["email"]["headers"]["subject"], subject);
}

TEST(V1AlertRow, A300KbSubjectIsTruncatedByTheShipperAndMarked) {
  std::string subject(300 * 1024, 'x');
  subject.replace(1000, 3, "\u2603");  // multi-byte character somewhere
  Alert a = make_alert(2, subject + "\u00fc\u00fc\u00fc");
  Row r = alert_row(a);
  auto row = nlohmann::json::parse(r.json);  // still valid JSON and valid UTF-8
  EXPECT_LE(row["Subject"].get<std::string>().size() + 2, kLogsIngestionLimits.field_bytes);
  EXPECT_NE(row["Subject"].get<std::string>().find("[truncated by etp2sentinel]"), std::string::npos);
  EXPECT_LE(row["RawAlert"].dump().size(), kLogsIngestionLimits.field_bytes);
  EXPECT_EQ(row["RawAlert"]["id"], "alert-2");  // the rest of the raw alert is intact
  EXPECT_EQ(row["TruncatedFields"], nlohmann::json::array({"Subject", "RawAlert"}));
  Row dc = alert_row(a, kDataCollectorLimits);
  EXPECT_LE(nlohmann::json::parse(dc.json)["Subject"].get<std::string>().size() + 2,
            kDataCollectorLimits.field_bytes);
}

TEST(V1AlertRow, AnAlertWhoseFieldsTogetherExceedOneCallIsCutHarderUntilItFits) {
  // 29 columns of up to 64 KB would not fit in one 1 MB call: every field is cut further.
  Alert a = make_alert(4, std::string(60 * 1000, 's'));
  for (const char* f : {"from", "to", "cc"})
    a.raw["attributes"]["email"]["headers"][f] = std::string(60 * 1000, 'h');
  a.raw_text.clear();
  RowLimits tight{64 * 1000, 100 * 1000};
  Row r = alert_row(a, tight);
  EXPECT_LE(r.json.size(), tight.row_bytes);
  auto row = nlohmann::json::parse(r.json);
  EXPECT_EQ(row["AlertId"], "alert-4");
  EXPECT_FALSE(row["TruncatedFields"].empty());
}
