// The ETP client and pager against etp-sim over real HTTP on a loopback port.
#include <gtest/gtest.h>

#include "common/etp_client.h"
#include "common/log.h"
#include "sim/etp/etp_sim.h"
#include "tests/support/drain.h"

using namespace etp2s;
using etp2s::sim::EtpSim;
using etp2s::sim::EtpSimOptions;
using etp2s::testing::drain;

namespace {

EtpSimOptions sim_options(int alerts) {
  EtpSimOptions o;
  o.alerts = alerts;
  o.days = 7;
  o.rate_limit_per_min = 1'000'000;
  o.late_percent = 0;
  return o;
}

std::set<std::string> truth_ids(const EtpSim& sim, const std::string& traffic) {
  std::set<std::string> out;
  for (const auto& t : sim.truth()) {
    if (t["traffic_type"] == traffic) out.insert(t["id"].get<std::string>());
  }
  return out;
}

std::string start_of_window() {
  return format_vendor(now_micros() - 8 * kMicrosPerDay);
}

EtpClient api_key_client(const EtpSim& sim, const std::string& key = "sim-api-key-0123456789") {
  return EtpClient({sim.base_url(), {2000, 5000, ""}}, std::make_shared<ApiKeyAuth>(Secret(key)));
}

std::shared_ptr<OAuthClientCredentials> oauth(const EtpSim& sim, const std::string& id,
                                              const std::string& secret) {
  return std::make_shared<OAuthClientCredentials>(OAuthSettings{
      sim.token_url(), id, Secret(secret), "etp.alrt.ro etp.trce.ro etp.quar.ro", {2000, 5000, ""}});
}

PagerOptions opts(const std::string& traffic, int size = 200) {
  PagerOptions o;
  o.traffic_type = traffic;
  o.size = size;
  return o;
}

void expect_exact(const etp2s::testing::Drained& d, const std::set<std::string>& truth) {
  EXPECT_FALSE(d.fatal.has_value()) << (d.fatal ? d.fatal->message : "");
  EXPECT_EQ(d.ids.size(), d.id_set().size()) << "an alert was handed on twice";
  EXPECT_EQ(d.id_set(), truth);
}

}  // namespace

TEST(EtpClientIntegration, ApiKeyPagesEveryAlertOfBothTrafficTypesExactlyOnce) {
  EtpSim sim(sim_options(700));
  auto client = api_key_client(sim);
  for (std::string traffic : {"inbound", "outbound"}) {
    auto d = drain(client, opts(traffic, 37), start_of_window());  // small pages: many inclusive boundaries
    expect_exact(d, truth_ids(sim, traffic));
    EXPECT_FALSE(d.ids.empty());
  }
}

TEST(EtpClientIntegration, OAuthTokenExpiringMidRunIsRefreshedOnceAndNothingIsLost) {
  EtpSim sim(sim_options(400));
  auto auth = oauth(sim, "sim-client", "sim-client-secret-0123");
  EtpClient client({sim.base_url(), {2000, 5000, ""}}, auth);
  CursorPager pager(opts("inbound", 50), start_of_window());
  std::vector<std::string> ids;
  int unauthorized = 0;
  for (int call = 0; call < 100; ++call) {
    if (call == 2) sim.set_faults({{"expire_tokens", true}});  // the vendor invalidates the token mid-run
    auto page = client.summary(pager.next_query());
    if (!page) {
      ASSERT_FALSE(page.error().fatal()) << page.error().message;
      ASSERT_EQ(page.error().http_status, 401);
      ++unauthorized;
      continue;
    }
    auto r = pager.accept(page.value());
    for (auto& a : r.alerts) ids.push_back(a.id);
    if (r.finished()) break;
  }
  EXPECT_EQ(unauthorized, 1);
  EXPECT_EQ(auth->token_fetches(), 2);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), truth_ids(sim, "inbound"));
  EXPECT_EQ(ids.size(), truth_ids(sim, "inbound").size());
}

TEST(EtpClientIntegration, ShortLivedTokensAreRefreshedBeforeExpiry) {
  auto o = sim_options(300);
  o.token_ttl_s = 2;
  EtpSim sim(o);
  auto auth = oauth(sim, "sim-client", "sim-client-secret-0123");
  EtpClient client({sim.base_url(), {2000, 5000, ""}}, auth);
  sim.set_faults({{"latency_ms", 150}});
  auto d = drain(client, opts("inbound", 20), start_of_window());
  expect_exact(d, truth_ids(sim, "inbound"));
  EXPECT_TRUE(d.retried.empty()) << "a token expired in use: " << d.retried.front().message;
  EXPECT_GE(auth->token_fetches(), 2);
}

TEST(EtpClientIntegration, CredentialProblemsAreFatalWithAnActionableMessage) {
  EtpSim sim(sim_options(10));
  {
    auto client = api_key_client(sim, "wrong-key-123456789");
    auto r = client.summary({});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().fatal());
    EXPECT_TRUE(r.error().auth);
    EXPECT_NE(r.error().message.find("ETP_API_KEY"), std::string::npos);
    EXPECT_EQ(describe(r.error().vendor), "ETP-1401 Unauthorized: invalid or expired API key");
  }
  {
    EtpClient client({sim.base_url(), {2000, 5000, ""}},
                     oauth(sim, "sim-client-without-api-role", "whatever-secret"));
    auto r = client.summary({});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().fatal());
    EXPECT_EQ(r.error().http_status, 400);
    EXPECT_NE(r.error().message.find("API access"), std::string::npos);
  }
  {
    EtpClient client({sim.base_url(), {2000, 5000, ""}}, oauth(sim, "sim-client", "not-the-secret"));
    auto r = client.summary({});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().fatal());
    EXPECT_EQ(r.error().http_status, 401);
  }
  {
    auto client = api_key_client(sim);
    sim.set_faults({{"script", {"badkey500"}}});
    auto r = client.summary({});
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.error().fatal()) << "a bad key reported as HTTP 500 must not be retried forever";
  }
}

TEST(EtpClientIntegration, FaultsAreRetriedAndTheResultIsStillExact) {
  EtpSim sim(sim_options(600));
  auto client = api_key_client(sim);
  sim.set_faults({{"script", {"ok", "429", "502", "ok", "garbage", "drop", "500", "ok", "503", "429"}}});
  auto d = drain(client, opts("inbound", 25), start_of_window());
  expect_exact(d, truth_ids(sim, "inbound"));
  ASSERT_EQ(d.retried.size(), 7u);
  EXPECT_TRUE(d.retried[0].rate_limited);
  EXPECT_TRUE(d.retried[0].retry_after_s.has_value());
  EXPECT_EQ(d.retried[1].http_status, 502);
  EXPECT_NE(d.retried[2].message.find("unusable body"), std::string::npos);
  EXPECT_EQ(d.retried[3].http_status, 0);  // dropped connection: no HTTP answer
}

TEST(EtpClientIntegration, RandomFaultsWithLatencyStillGiveTheExactSet) {
  EtpSim sim(sim_options(500));
  sim.set_faults(
      {{"rate_5xx", 0.15}, {"rate_garbage", 0.1}, {"rate_drop", 0.1}, {"latency_ms", 5}, {"jitter_ms", 4}});
  auto client = api_key_client(sim);
  auto d = drain(client, opts("outbound", 10), start_of_window());
  expect_exact(d, truth_ids(sim, "outbound"));
  EXPECT_FALSE(d.retried.empty());
}

TEST(EtpClientIntegration, StuckCursorNeitherLoopsNorSkipsSilently) {
  auto o = sim_options(200);
  o.tie_burst = 250;  // 250 inbound alerts share one last_modified_on: more than the largest page
  EtpSim sim(o);
  auto client = api_key_client(sim);
  auto d = drain(client, opts("inbound", 100), start_of_window(), 500);
  ASSERT_FALSE(d.fatal.has_value());
  ASSERT_EQ(d.stuck.size(), 1u);
  EXPECT_EQ(d.stuck[0].seen, 200u);
  auto truth = truth_ids(sim, "inbound");
  std::set<std::string> got = d.id_set();
  EXPECT_EQ(d.ids.size(), got.size());
  std::vector<std::string> missed;
  for (const auto& id : truth) {
    if (!got.count(id)) missed.push_back(id);
  }
  EXPECT_EQ(missed.size(), 50u)
      << "exactly the alerts beyond the 200 visible at the tied instant are skipped";
  for (const auto& id : got) EXPECT_TRUE(truth.count(id));
}

TEST(EtpClientIntegration, TheLimitIsEnforcedWithA429AndRetryAfter) {
  auto o = sim_options(20);
  o.rate_limit_per_min = 5;
  EtpSim sim(o);
  auto client = api_key_client(sim);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client.summary({}).ok());
  auto r = client.summary({});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().rate_limited);
  EXPECT_FALSE(r.error().fatal());
  ASSERT_TRUE(r.error().retry_after_s.has_value());
  EXPECT_GT(*r.error().retry_after_s, 0);
  auto stats = sim.stats();
  EXPECT_EQ(stats["routes"]["/alerts"]["requests"], 6);
  EXPECT_EQ(stats["routes"]["/alerts"]["rate_limited"], 1);
  EXPECT_EQ(stats["routes"]["/alerts"]["max_in_60s"], 6);
}

TEST(EtpClientIntegration, CountingCallsAndDetails) {
  EtpSim sim(sim_options(100));
  auto client = api_key_client(sim);
  SummaryQuery count;
  count.size = 0;
  count.from_last_modified_on = start_of_window();
  auto c = client.summary(count);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->alerts.empty());
  EXPECT_EQ(static_cast<std::size_t>(c->total.value_or(-1)), truth_ids(sim, "inbound").size());

  std::string id = *truth_ids(sim, "inbound").begin();
  auto d = client.details(id);
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(d->has_value());
  EXPECT_EQ((**d)["id"], id);
  EXPECT_TRUE(find_path(**d, {"attributes", "alert", "severity"}) != nullptr);
  auto missing = client.details("no-such-alert");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());
}

TEST(EtpClientIntegration, AttributeFiltersAreSentAsDocumented) {
  EtpSim sim(sim_options(300));
  auto client = api_key_client(sim);
  PagerOptions o = opts("inbound");
  o.attributes = {{"email_status", {"quarantined"}}};
  auto d = drain(client, o, start_of_window());
  ASSERT_FALSE(d.fatal.has_value());
  ASSERT_FALSE(d.ids.empty());
  EXPECT_LT(d.ids.size(), truth_ids(sim, "inbound").size());
}

TEST(EtpClientIntegration, ClientTimeoutIsARetry) {
  EtpSim sim(sim_options(10));
  sim.set_faults({{"latency_ms", 1500}});
  EtpClient client({sim.base_url(), {500, 300, ""}},
                   std::make_shared<ApiKeyAuth>(Secret("sim-api-key-0123456789")));
  auto r = client.summary({});
  ASSERT_FALSE(r.ok());
  EXPECT_FALSE(r.error().fatal());
  EXPECT_NE(r.error().message.find("timed out"), std::string::npos);
}
