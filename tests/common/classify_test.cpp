#include <gtest/gtest.h>

#include "common/etp_client.h"

using namespace etp2s;

namespace {
struct Row {
  long status;
  const char* body;
  const char* retry_after;
  Disposition expected;
  bool rate_limited;
  bool auth;
  std::optional<double> wait;
};
const char* kRateBody = R"({"errors":[{"title":"Too Many Requests","detail":"rate limit exceeded"}]})";
const char* kBadKey500 = R"({"errors":[{"title":"Internal Server Error","detail":"Invalid API key"}]})";
const char* kSize = R"({"errors":[{"title":"Bad Request","detail":"response size exceeded"}]})";
}  // namespace

// The whole failure-classification table of the ETP client, in one place.
TEST(Classification, HttpStatusTable) {
  const Row rows[] = {
      {429, kRateBody, "7", Disposition::Retry, true, false, 7.0},
      {429, "", "", Disposition::Retry, true, false, std::nullopt},
      {429, "", "Sun, 22 Nov 2026 13:45:10 GMT", Disposition::Retry, true, false, 10.0},
      {403, kRateBody, "", Disposition::Retry, true, false,
       std::nullopt},  // a rate-limit body, whatever the code
      {500, "", "", Disposition::Retry, false, false, std::nullopt},
      {502, "<html>bad gateway</html>", "", Disposition::Retry, false, false, std::nullopt},
      {503, "", "30", Disposition::Retry, false, false, 30.0},
      {504, "", "", Disposition::Retry, false, false, std::nullopt},
      {408, "", "", Disposition::Retry, false, false, std::nullopt},
      {500, kBadKey500, "", Disposition::Fatal, false, true, std::nullopt},  // bad key reported as 500
      {401, "", "", Disposition::Fatal, false, true, std::nullopt},
      {403, "", "", Disposition::Fatal, false, true, std::nullopt},
      {400, kSize, "", Disposition::Fatal, false, false, std::nullopt},
      {404, "", "", Disposition::Fatal, false, false, std::nullopt},
      {413, "", "", Disposition::Fatal, false, false, std::nullopt},
      {301, "", "", Disposition::Fatal, false, false, std::nullopt},
  };
  const long long now = 1795355100;  // Sun, 22 Nov 2026 13:45:00 GMT
  for (const auto& r : rows) {
    EtpError e = classify_http(r.status, r.body, r.retry_after, "test", now);
    SCOPED_TRACE(std::to_string(r.status) + " " + r.body);
    EXPECT_EQ(e.disposition, r.expected);
    EXPECT_EQ(e.rate_limited, r.rate_limited);
    EXPECT_EQ(e.auth, r.auth);
    EXPECT_EQ(e.retry_after_s, r.wait);
    EXPECT_EQ(e.http_status, r.status);
    EXPECT_FALSE(e.message.empty());
  }
  EXPECT_NE(classify_http(400, kSize, "", "q", now).message.find("response size exceeded"),
            std::string::npos);
}

TEST(Classification, TransportFailuresAreRetried) {
  EXPECT_EQ(classify_transport({28, true, "Operation timed out"}, "x").disposition, Disposition::Retry);
  EXPECT_EQ(classify_transport({56, false, "Connection reset"}, "x").disposition, Disposition::Retry);
  EXPECT_EQ(classify_transport({18, false, "partial file"}, "x").disposition, Disposition::Retry);
  EXPECT_EQ(classify_transport({1, false, "refusing URL that uses plain http"}, "x").disposition,
            Disposition::Fatal);
}

TEST(Classification, SummaryQueryValidation) {
  SummaryQuery q;
  EXPECT_TRUE(build_summary_body(q).ok());
  q.size = 201;
  EXPECT_FALSE(build_summary_body(q).ok());
  q.size = -1;
  EXPECT_FALSE(build_summary_body(q).ok());
  q.size = 0;  // counting call
  EXPECT_TRUE(build_summary_body(q).ok());
  q.traffic_type = "sideways";
  EXPECT_FALSE(build_summary_body(q).ok());
  q.traffic_type = "outbound";
  q.attributes = {{"email_status", {"quarantined", "ACE: Passthrough"}}, {"legacy_id", 55508929}};
  q.from_last_modified_on = "2019-08-23T08:22:14.236";
  auto body = build_summary_body(q);
  ASSERT_TRUE(body.ok());
  auto j = nlohmann::json::parse(body.value());
  EXPECT_EQ(j["attributes"]["legacy_id"], 55508929);
  EXPECT_EQ(j["fromLastModifiedOn"], "2019-08-23T08:22:14.236");
  EXPECT_EQ(j["traffic_type"], "outbound");
  q.attributes_key = "attribute";
  EXPECT_TRUE(nlohmann::json::parse(build_summary_body(q).value()).contains("attribute"));
  q.attributes = {{"color", "red"}};
  EXPECT_FALSE(build_summary_body(q).ok());
  q.attributes = {{"email_status", "quarantined"}};  // must be a list
  EXPECT_FALSE(build_summary_body(q).ok());
  q.attributes = OrderedJson::object();
  q.from_last_modified_on = "last tuesday";
  EXPECT_FALSE(build_summary_body(q).ok());
}

TEST(Classification, UrlPolicy) {
  EXPECT_FALSE(check_url_allowed("https://etp.us.fireeye.com").has_value());
  EXPECT_FALSE(check_url_allowed("http://127.0.0.1:8080").has_value());
  EXPECT_FALSE(check_url_allowed("http://localhost:1/x").has_value());
  EXPECT_FALSE(check_url_allowed("http://[::1]:99/").has_value());
  EXPECT_TRUE(check_url_allowed("http://etp.us.fireeye.com").has_value());
  EXPECT_TRUE(check_url_allowed("ftp://127.0.0.1").has_value());
  EXPECT_TRUE(check_url_allowed("https://user:pw@host").has_value());
  EXPECT_TRUE(check_url_allowed("not a url").has_value());
}
