#include "common/config.h"
#include "common/log.h"
#include "common/redis.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

using namespace etp2s;

namespace {
std::map<std::string, std::string> minimal() {
  return {{"ETP_BASE_URL", "https://etp.us.fireeye.com"},
          {"ETP_API_KEY", "k-0123456789abcdef"},
          {"SENTINEL_DCE_URL", "https://dce-1.westeurope-1.ingest.monitor.azure.com"},
          {"SENTINEL_DCR_ID", "dcr-0123456789abcdef0123456789abcdef"}};
}
std::map<std::string, std::string> with_env(std::map<std::string, std::string> e,
                                            const std::map<std::string, std::string>& changes) {
  for (const auto& [k, v] : changes) e[k] = v;
  return e;
}
}  // namespace

TEST(Config, DefaultsFromTheIssue) {
  auto c = load_config(map_env(minimal()));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->etp_page_size, 200);
  EXPECT_EQ(c->etp_rate_limit_per_min, 60);
  EXPECT_EQ(c->etp_backfill_days, 7);
  EXPECT_EQ(c->etp_traffic_types, (std::vector<std::string>{"inbound", "outbound"}));
  EXPECT_EQ(c->etp_overlap_s, 300);
  EXPECT_EQ(c->fetchers, 4);
  EXPECT_EQ(c->sentinel_mode, "logs-ingestion");
  EXPECT_EQ(c->sentinel_stream, "Custom-FireEyeETPAlerts_CL");
  EXPECT_FALSE(c->etp_uses_oauth());
  // Supporting data on by default: details of every alert, the trace of alerted messages, the quarantine.
  EXPECT_EQ(c->sources,
            (std::vector<std::string>{"alerts-v1", "details-v1", "trace-alerted", "quarantine-v1"}));
  auto off = load_config(map_env(
      with_env(minimal(), {{"ETP_DETAILS", "off"}, {"ETP_TRACE", "off"}, {"ETP_QUARANTINE", "off"}})));
  ASSERT_TRUE(off.ok()) << off.error();
  EXPECT_EQ(off->sources, (std::vector<std::string>{"alerts-v1"}));
  auto all = load_config(map_env(with_env(minimal(), {{"ETP_TRACE", "all"}})));
  ASSERT_TRUE(all.ok()) << all.error();
  EXPECT_EQ(all->sources, (std::vector<std::string>{"alerts-v1", "details-v1", "trace-all", "quarantine-v1"}))
      << "the whole trace stream replaces the lookups of alerted messages (it holds them)";
}

TEST(Config, EveryProblemIsReportedTogetherNamingTheVariable) {
  auto env = minimal();
  env.erase("ETP_BASE_URL");
  env["ETP_PAGE_SIZE"] = "500";
  env["ETP_BACKFILL_DAYS"] = "91";
  env["ETP_TRAFFIC_TYPES"] = "inbound,sideways";
  env["ETP_RATE_LIMIT_PER_MIN"] = "sixty";
  env["LOG_LEVEL"] = "loud";
  env["ETP_DOMAINS"] = "contoso.com,not a domain";
  env["SENTINEL_DCR_ID"] = "my-dcr";
  auto c = load_config(map_env(env));
  ASSERT_FALSE(c.ok());
  const std::string& m = c.error();
  for (const char* name :
       {"ETP_BASE_URL is required", "ETP_PAGE_SIZE", "ETP_BACKFILL_DAYS", "ETP_TRAFFIC_TYPES",
        "ETP_RATE_LIMIT_PER_MIN", "LOG_LEVEL", "ETP_DOMAINS", "SENTINEL_DCR_ID"}) {
    EXPECT_NE(m.find(name), std::string::npos) << name << "\n" << m;
  }
  EXPECT_NE(m.find("8 problems"), std::string::npos) << m;
}

TEST(Config, AuthSchemes) {
  auto env = minimal();
  env["ETP_CLIENT_ID"] = "client";
  auto both = load_config(map_env(env));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().find("choose one authentication scheme"), std::string::npos);

  env.erase("ETP_API_KEY");
  auto missing_secret = load_config(map_env(env));
  ASSERT_FALSE(missing_secret.ok());
  EXPECT_NE(missing_secret.error().find("ETP_CLIENT_SECRET is required"), std::string::npos);

  env["ETP_CLIENT_SECRET"] = "s3cret-value-xyz";
  auto ok = load_config(map_env(env));
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(ok->etp_uses_oauth());

  env.erase("ETP_CLIENT_ID");
  env.erase("ETP_CLIENT_SECRET");
  auto none = load_config(map_env(env));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().find("ETP_API_KEY (or ETP_CLIENT_ID with ETP_CLIENT_SECRET) is required"),
            std::string::npos);
}

TEST(Config, SecretsFromFilesAndAConfigFile) {
  std::string key_path = ::testing::TempDir() + "etp_key";
  std::ofstream(key_path) << "key-from-file-123456\n";
  std::string cfg_path = ::testing::TempDir() + "etp2s.env";
  std::ofstream(cfg_path)
      << "# comment\nETP_BASE_URL=https://etp.eu.fireeye.com\nETP_PAGE_SIZE=\"50\"\nETP_BACKFILL_DAYS=3\n";
  auto env = minimal();
  env.erase("ETP_API_KEY");
  env.erase("ETP_BASE_URL");
  env["ETP_API_KEY_FILE"] = key_path;
  env["ETP2S_CONFIG_FILE"] = cfg_path;
  env["ETP_BACKFILL_DAYS"] = "14";  // the environment wins over the file
  auto c = load_config(map_env(env));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->etp_api_key.reveal(), "key-from-file-123456");
  EXPECT_EQ(c->etp_base_url, "https://etp.eu.fireeye.com");
  EXPECT_EQ(c->etp_page_size, 50);
  EXPECT_EQ(c->etp_backfill_days, 14);

  env["ETP_API_KEY"] = "also-direct-123456";
  auto both = load_config(map_env(env));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().find("set only one"), std::string::npos);

  env.erase("ETP_API_KEY");
  env["ETP_API_KEY_FILE"] = "/nonexistent/key";
  auto missing = load_config(map_env(env));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().find("ETP_API_KEY_FILE names a file that cannot be read"), std::string::npos);
}

TEST(Config, DataCollectorMode) {
  auto env = minimal();
  env["SENTINEL_MODE"] = "data-collector";
  auto c = load_config(map_env(env));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().find("SENTINEL_WORKSPACE_ID"), std::string::npos);
  EXPECT_NE(c.error().find("SENTINEL_SHARED_KEY"), std::string::npos);
  env["SENTINEL_WORKSPACE_ID"] = "00000000-1111-2222-3333-444444444444";
  env["SENTINEL_SHARED_KEY"] =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
  auto ok = load_config(map_env(env));
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->sentinel_data_collector_url,
            "https://00000000-1111-2222-3333-444444444444.ods.opinsights.azure.com");
  EXPECT_EQ(ok->sentinel_log_type, "FireEyeETPAlerts");
  env["SENTINEL_MODE"] = "carrier-pigeon";
  EXPECT_NE(load_config(map_env(env)).error().find("SENTINEL_MODE must be"), std::string::npos);
}

TEST(Config, RolesValidateOnlyWhatTheyNeed) {
  std::map<std::string, std::string> env = {
      {"REDIS_URL", "redis://127.0.0.1:1/0"}, {"ETP_BACKFILL_DAYS", "30"}, {"ETP_TRAFFIC_TYPES", "outbound"}};
  auto coordinator = load_config(map_env(env), ConfigNeeds{false, false, true});
  ASSERT_TRUE(coordinator.ok());
  // Without ETP credentials, a role still reads the settings every role must agree on.
  EXPECT_EQ(coordinator->etp_backfill_days, 30);
  EXPECT_EQ(coordinator->etp_traffic_types, std::vector<std::string>{"outbound"});
  EXPECT_FALSE(load_config(map_env(env), ConfigNeeds{true, false, true}).ok());
  env["REDIS_URL"] = "http://x";
  EXPECT_FALSE(load_config(map_env(env), ConfigNeeds{false, false, true}).ok());
}

// A role that does not use a secret still redacts it (a shared environment, an error text from another role).
TEST(Config, EveryRoleRedactsEverySecretConfiguredEvenThoseItDoesNotUse) {
  std::string dir = ::testing::TempDir();
  std::string key_file = dir + "/shared_key_for_redaction_test";
  {
    std::ofstream f(key_file);
    f << "c2hhcmVkLWtleS1mcm9tLWEtZmlsZQ==\n";
  }
  std::map<std::string, std::string> env = {{"REDIS_URL", "redis://127.0.0.1:1/0"},
                                            {"AZURE_CLIENT_SECRET", "azure-secret-the-fetcher-never-uses"},
                                            {"SENTINEL_SHARED_KEY_FILE", key_file},
                                            {"ETP_API_KEY", "etp-key-the-shipper-never-uses"}};
  std::string text =
      "azure-secret-the-fetcher-never-uses c2hhcmVkLWtleS1mcm9tLWEtZmlsZQ== etp-key-the-shipper-never-uses";
  {
    auto fetcher_like = load_config(map_env(env), ConfigNeeds{false, false, true});
    ASSERT_TRUE(fetcher_like.ok()) << fetcher_like.error();
    std::string out = log::redact(text);
    EXPECT_EQ(out.find("azure-secret"), std::string::npos) << out;
    EXPECT_EQ(out.find("c2hhcmVk"), std::string::npos) << out;
    EXPECT_EQ(out.find("etp-key"), std::string::npos) << out;
  }
  // Held only while the configuration lives, like every other secret.
  EXPECT_NE(log::redact(text).find("azure-secret-the-fetcher-never-uses"), std::string::npos);
  std::remove(key_file.c_str());
}

TEST(Config, SetAsideListsHaveBoundedDefaultsAndBoundedSettings) {
  auto c = load_config(map_env(minimal()));
  ASSERT_TRUE(c.ok()) << c.error();
  EXPECT_EQ(c->gaps_max_entries, 10000);
  EXPECT_EQ(c->gaps_ttl_days, 90);
  EXPECT_EQ(c->dead_letter_max_entries, 1000);
  EXPECT_EQ(c->dead_letter_ttl_days, 30);
  auto env = minimal();
  env["GAPS_MAX_ENTRIES"] = "500";
  env["DEADLETTER_TTL_DAYS"] = "7";
  auto set = load_config(map_env(env));
  ASSERT_TRUE(set.ok()) << set.error();
  EXPECT_EQ(set->gaps_max_entries, 500);
  EXPECT_EQ(set->dead_letter_ttl_days, 7);
  for (auto [name, value] :
       {std::pair{"GAPS_MAX_ENTRIES", "0"}, std::pair{"GAPS_TTL_DAYS", "0"},
        std::pair{"DEADLETTER_MAX_ENTRIES", "1000001"}, std::pair{"DEADLETTER_TTL_DAYS", "forever"}}) {
    auto bad = minimal();
    bad[name] = value;
    auto r = load_config(map_env(bad));
    ASSERT_FALSE(r.ok()) << name << "=" << value << " was accepted";
    EXPECT_NE(r.error().find(name), std::string::npos) << r.error();
  }
}

TEST(Config, TheRedisPasswordComesFromAFileAndNeverShows) {
  const std::string file = ::testing::TempDir() + "redis_password";
  std::ofstream(file) << "redis-pw-0123456789\n";
  auto env = minimal();
  env["REDIS_URL"] = "redis://redis:6379/2";
  env["REDIS_PASSWORD_FILE"] = file;
  auto c = load_config(map_env(env));
  ASSERT_TRUE(c.ok()) << c.error();
  auto a = parse_redis_url(c->redis_url);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->password.reveal(), "redis-pw-0123456789");
  EXPECT_EQ(a->host, "redis");
  EXPECT_EQ(a->db, 2);
  EXPECT_EQ(log::redact(c->redis_url).find("redis-pw-0123456789"), std::string::npos);
  // An ACL user in the URL is kept; TLS too.
  env["REDIS_URL"] = "rediss://etp2s@cache.example:10000/0";
  auto acl = load_config(map_env(env));
  ASSERT_TRUE(acl.ok()) << acl.error();
  auto b = parse_redis_url(acl->redis_url).value();
  EXPECT_EQ(b.user, "etp2s");
  EXPECT_EQ(b.password.reveal(), "redis-pw-0123456789");
  EXPECT_TRUE(b.tls);
  EXPECT_EQ(b.port, 10000);
  // Refused, naming the variable and never the password: two passwords, a unix socket, a space.
  for (const auto& url :
       {std::string("redis://:other-password@redis:6379/0"), std::string("unix:///run/r.sock")}) {
    env["REDIS_URL"] = url;
    auto r = load_config(map_env(env));
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_NE(r.error().find("REDIS_PASSWORD"), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("redis-pw-0123456789"), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("other-password"), std::string::npos) << r.error();
  }
  std::ofstream(file) << "redis pw with spaces";
  env["REDIS_URL"] = "redis://redis:6379/0";
  auto spaced = load_config(map_env(env));
  ASSERT_FALSE(spaced.ok());
  EXPECT_NE(spaced.error().find("REDIS_PASSWORD"), std::string::npos) << spaced.error();
  EXPECT_EQ(spaced.error().find("pw with"), std::string::npos) << spaced.error();
  std::remove(file.c_str());
}
