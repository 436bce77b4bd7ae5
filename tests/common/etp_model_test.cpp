#include "common/etp_model.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

using namespace etp2s;

namespace {
std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(ETP2S_SHARED_DIR) + "/fixtures/etp/" + name);
  EXPECT_TRUE(in.good()) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The sample response of ../shared/docs/etp-api.md.
const char* kReferenceSample = R"({"data": [{"attributes": {
    "meta": {"read": false, "last_modified_on": "2022-11-22T11:33:52.037", "legacy_id": 85534366, "acknowledged": false,
             "timestamps": {"db_insert_time": "2022-11-22T11:33:51.961608+00", "es_insert_time": "2022-11-22T11:33:52.037"},
             "last_malware": "yara|yara_simple_eg.yara|AsciiExample_1 and 1 more", "alert_type": "yara"},
    "ati": {},
    "alert": {"product": "ETP", "alert_type": ["at"], "malware_md5": "b2255f656c300f3e00e51b6d0e62a7bb",
              "timestamp": "2022-11-22T11:33:52.036", "sha256": "94e617d9cfb98fcc0abc4010e1e4f030cdd5c0820be31c06259081cf48695261"},
    "email": {"status": "quarantined", "source_ip": "96.47.26.93",
              "smtp": {"rcpt_to": "userc@example.com", "mail_from": "bounce@newsletters.example.com"},
              "etp_message_id": "3yINFWA-1111152-7B1209271853BC7365d49e4a8",
              "headers": {"cc": "", "to": "userc@example.com", "from": "News <news@example.com>", "subject": "Test mail"},
              "attachment": "yara|yara_simple_eg.yara|AsciiExample_1 and 1 more",
              "timestamp": {"accepted": "2022-11-22T11:32:41"}}},
   "id": "3yINFWA-1111152-8784f526-be90-45ed-8867-ec1fcf066dd8",
   "links": {"detail": "/api/v1/alerts/3yINFWA-1111152-8784f526-be90-45ed-8867-ec1fcf066dd8"}}],
 "meta": {"total": 4465, "size": 1,
          "fromLastModifiedOn": {"start": "2022-11-22T11:33:52.037", "end": "2022-11-22T11:33:52.037"},
          "copyright": "Copyright 2022 FireEye Security Holdings US LLC"},
 "type": "alerts"})";
}  // namespace

TEST(EtpModel, ParsesTheReferenceSampleAndKeepsTheAlertWhole) {
  auto page = parse_summary(kReferenceSample, "inbound");
  ASSERT_TRUE(page.ok()) << page.error();
  ASSERT_EQ(page->alerts.size(), 1u);
  const Alert& a = page->alerts[0];
  EXPECT_EQ(a.id, "3yINFWA-1111152-8784f526-be90-45ed-8867-ec1fcf066dd8");
  EXPECT_EQ(a.etp_message_id, "3yINFWA-1111152-7B1209271853BC7365d49e4a8");
  EXPECT_EQ(a.last_modified_on, "2022-11-22T11:33:52.037");
  EXPECT_EQ(format_iso_ms(a.last_modified_us), "2022-11-22T11:33:52.037Z");
  EXPECT_EQ(a.traffic_type, "inbound");
  EXPECT_EQ(page->total, 4465);
  EXPECT_EQ(page->cursor_end, "2022-11-22T11:33:52.037");
  // Kept whole and in the vendor's key order.
  auto original = OrderedJson::parse(kReferenceSample)["data"][0];
  EXPECT_EQ(a.raw.dump(), original.dump());
  EXPECT_EQ(a.raw.begin().key(), "attributes");
}

TEST(EtpModel, ParsesFourAlertFixtureDespiteMetaSizeDisagreeing) {
  auto page = parse_summary(read_fixture("summary-4-alerts.json"));
  ASSERT_TRUE(page.ok()) << page.error();
  EXPECT_EQ(page->meta_size, 1);
  ASSERT_EQ(page->alerts.size(), 4u);
  EXPECT_TRUE(page->rejected.empty());
  for (const auto& a : page->alerts) {
    EXPECT_FALSE(a.id.empty());
    EXPECT_GT(a.last_modified_us, 0);
    EXPECT_EQ(string_at(a.raw, {"attributes", "email", "source_ip"}), "x.x.x.x");
  }
}

TEST(EtpModel, ParsesSparseTwoPageFixture) {
  auto pages = nlohmann::json::parse(read_fixture("summary-two-pages-inclusive-boundary.json"));
  ASSERT_EQ(pages.size(), 2u);
  auto p1 = parse_summary(pages[0].dump());
  auto p2 = parse_summary(pages[1].dump());
  ASSERT_TRUE(p1.ok() && p2.ok());
  EXPECT_EQ(p1->alerts.back().id, "2");
  EXPECT_EQ(p2->alerts.front().id, "2");              // the inclusive boundary
  EXPECT_TRUE(p1->alerts[0].etp_message_id.empty());  // absent fields are empty, not an error
  EXPECT_EQ(p1->cursor_end, "2023-08-01T14:30:33.699");
}

TEST(EtpModel, RejectsRecordsWithoutIdentityButKeepsTheRest) {
  auto page = parse_summary(R"({"data": [
      {"id": "ok", "attributes": {"meta": {"last_modified_on": "2023-01-01T00:00:00.000"}}, "new_field": [1, 2]},
      {"attributes": {"meta": {"last_modified_on": "2023-01-01T00:00:00.000"}}},
      {"id": "badtime", "attributes": {"meta": {"last_modified_on": "not a time"}}},
      {"id": 12345, "attributes": {"meta": {"last_modified_on": "2023-01-01T00:00:01Z"}}},
      "a string"], "meta": {"size": "7"}})");
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->alerts.size(), 2u);
  EXPECT_EQ(page->alerts[0].id, "ok");
  EXPECT_EQ(page->alerts[1].id, "12345");  // numeric ids are accepted as text
  EXPECT_EQ(page->rejected.size(), 3u);
  EXPECT_EQ(page->meta_size, 7);
  EXPECT_EQ(page->alerts[0].raw["new_field"].size(), 2u);  // unknown fields kept
}

TEST(EtpModel, FailsOnlyWithoutADataArray) {
  EXPECT_FALSE(parse_summary("").ok());
  EXPECT_FALSE(parse_summary("<html>502 Bad Gateway</html>").ok());
  EXPECT_FALSE(parse_summary(R"({"data": [{"id": "x")").ok());
  EXPECT_FALSE(parse_summary(R"({"errors": []})").ok());
  EXPECT_FALSE(parse_summary("[]").ok());
  EXPECT_TRUE(parse_summary(R"({"data": []})").ok());
}

TEST(EtpModel, VendorErrorsAreDescribed) {
  auto errs = parse_vendor_errors(
      R"({"errors": [{"status": "400", "title": "Bad Request", "detail": "response size exceeded", "code": "ETP-1"}]})");
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(describe(errs), "ETP-1 Bad Request: response size exceeded");
  EXPECT_TRUE(parse_vendor_errors("garbage").empty());
}

TEST(EtpModel, VersionKeyDistinguishesAlertsOfOneMessageAndModifications) {
  EXPECT_NE(version_key("m", "a1", 1), version_key("m", "a2", 1));
  EXPECT_NE(version_key("m", "a1", 1), version_key("m", "a1", 2));
  EXPECT_EQ(version_key("m", "a1", 1), "m|a1|1");
}
