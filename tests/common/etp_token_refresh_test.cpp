// 1,000 OAuth token refreshes against etp-sim's token endpoint: the redactor keeps only the token in use.
#include <gtest/gtest.h>

#include <set>

#include "common/etp_client.h"
#include "common/log.h"
#include "sim/etp/etp_sim.h"

using namespace etp2s;
using etp2s::sim::EtpSim;
using etp2s::sim::EtpSimOptions;

namespace {

std::string bearer_token(const std::pair<std::string, std::string>& header) {
  EXPECT_EQ(header.first, "Authorization");
  EXPECT_EQ(header.second.rfind("Bearer ", 0), 0u) << header.second;
  return header.second.substr(7);
}

}  // namespace

TEST(EtpTokenRefresh, AThousandRefreshesKeepOnlyTheCurrentTokenRedacted) {
  EtpSimOptions o;
  o.alerts = 20;
  o.rate_limit_per_min = 1'000'000;
  EtpSim sim(o);
  Micros fake_now = now_micros();
  auto auth = std::make_shared<OAuthClientCredentials>(
      OAuthSettings{sim.token_url(), o.client_id, Secret(o.client_secret), "etp.alrt.ro", {2000, 5000, ""}},
      [&] { return fake_now; });
  std::vector<std::string> tokens;
  std::size_t registered = 0;
  for (int i = 0; i < 1000; ++i) {
    auto h = auth->header();
    ASSERT_TRUE(h.ok()) << h.error().message;
    tokens.push_back(bearer_token(h.value()));
    if (i == 0) registered = log::registered_secret_count();
    EXPECT_EQ(log::registered_secret_count(), registered) << "after refresh " << i;
    fake_now += 3600 * kMicrosPerSecond;  // the sim's tokens live an hour: every call is due for refresh
  }
  EXPECT_EQ(auth->token_fetches(), 1000);
  EXPECT_EQ(std::set<std::string>(tokens.begin(), tokens.end()).size(), 1000u) << "every refresh is new";
  EXPECT_EQ(log::redact("t=" + tokens.back()), "t=[REDACTED]");
  for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
    ASSERT_EQ(log::redact(tokens[i]), tokens[i]) << "refresh " << i << " is still held";
  }
  // The token still held is the one in use: the sim accepts it.
  EtpClient client({sim.base_url(), {2000, 5000, ""}}, auth, [&] { return fake_now; });
  fake_now -= 3600 * kMicrosPerSecond;
  auto page = client.summary({});
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(auth->token_fetches(), 1000);
}
