#include <gtest/gtest.h>

#include <sstream>

#include "common/config.h"
#include "common/etp_client.h"
#include "common/log.h"

using namespace etp2s;

namespace {
struct Capture {
  std::vector<std::string> lines;
  Capture() {
    log::set_sink([this](const std::string& l) { lines.push_back(l); });
  }
  ~Capture() { log::set_sink(nullptr); }
  std::string all() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
};
}  // namespace

TEST(Redaction, ConfiguredSecretsNeverAppearInLogsOrErrors) {
  const std::string key = "KEY-4f1c9e7a-very-secret";
  const std::string client_secret = "CS-\"quoted\\secret\"-77";
  const std::string shared_key =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
  auto c = load_config(map_env({{"ETP_BASE_URL", "https://etp.us.fireeye.com"},
                                {"ETP_API_KEY", key},
                                {"AZURE_CLIENT_SECRET", client_secret},
                                {"SENTINEL_MODE", "data-collector"},
                                {"SENTINEL_WORKSPACE_ID", "00000000-1111-2222-3333-444444444444"},
                                {"SENTINEL_SHARED_KEY", shared_key}}),
                       ConfigNeeds{true, true, false});
  ASSERT_TRUE(c.ok()) << c.error();
  Secret azure_secret(client_secret);  // every secret-bearing value is a Secret, wherever it comes from
  Capture cap;
  // Code that formats secrets by mistake, in every shape a log line or error can take.
  log::error("oops", {{"key", key}, {"nested", {{"secret", client_secret}}}, {"text", "header was " + key}});
  log::warn("shared", {{"k", shared_key}});
  std::ostringstream os;
  os << c->etp_api_key;
  log::info("printed", {{"value", os.str()}});
  EtpError e =
      classify_http(500, R"({"errors":[{"title":"x","detail":"echo )" + key + R"("}]})", "", "call", 0);
  log::error("vendor", {{"error", e.message}});
  std::string all = cap.all();
  for (const std::string& s : {key, client_secret, shared_key}) {
    EXPECT_EQ(all.find(s), std::string::npos) << s;
    EXPECT_EQ(log::redact(e.message + s).find(s), std::string::npos);
  }
  EXPECT_EQ(all.find("quoted\\\\secret"), std::string::npos);  // the JSON-escaped spelling too
  EXPECT_NE(all.find("[REDACTED]"), std::string::npos);
  EXPECT_NE(os.str().find("<secret:"), std::string::npos);
  EXPECT_EQ(cap.lines.size(), 4u);
}

TEST(Redaction, ConfigErrorsDoNotEchoSecretValues) {
  const std::string secret = "short7";  // too short to be registered: must still not be echoed
  auto c = load_config(map_env({{"ETP_BASE_URL", "https://x.example"}, {"ETP_API_KEY", secret}}),
                       ConfigNeeds{true, false, false});
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().find(secret), std::string::npos) << c.error();
  EXPECT_NE(c.error().find("ETP_API_KEY is too short"), std::string::npos);
}
