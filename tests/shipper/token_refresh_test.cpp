// 1,000 Entra ID token refreshes against sentinel-sim: the redactor keeps only the token in use.
#include <gtest/gtest.h>

#include <set>

#include "common/azure_credentials.h"
#include "common/log.h"
#include "sim/sentinel/sentinel_sim.h"

using namespace etp2s;
using etp2s::sim::SentinelSim;
using etp2s::sim::SentinelSimOptions;

TEST(AzureTokenRefresh, AThousandRefreshesKeepOnlyTheCurrentTokenRedacted) {
  SentinelSimOptions o;
  SentinelSim sim(o);
  Micros fake_now = now_micros();
  ClientSecretCredential cred(
      EntraSettings{
          sim.base_url(), o.tenant_id, o.client_id, "https://monitor.azure.com//.default", {2000, 10000, ""}},
      Secret(o.client_secret), [&] { return fake_now; });
  std::vector<std::string> tokens;
  std::size_t registered = 0;
  for (int i = 0; i < 1000; ++i) {
    auto t = cred.token();
    ASSERT_TRUE(t.ok()) << t.error().message;
    tokens.push_back(t->reveal());
    if (i == 0) registered = log::registered_secret_count();
    EXPECT_EQ(log::registered_secret_count(), registered) << "after refresh " << i;
    fake_now += 3600 * kMicrosPerSecond;  // the sim's tokens live an hour: every call is due for refresh
  }
  EXPECT_EQ(cred.fetches(), 1000);
  EXPECT_EQ(std::set<std::string>(tokens.begin(), tokens.end()).size(), 1000u) << "every refresh is new";
  EXPECT_EQ(log::redact("t=" + tokens.back()), "t=[REDACTED]");
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    ASSERT_EQ(log::redact(tokens[i]), tokens[i]) << "refresh " << i << " is still held";
  }
}
