// Configuration that must be refused at start (security issue, point 5), and what must still be accepted.
// Every refusal names its variable, never echoes a secret, and comes back quickly: a hang is a failure.
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <string>

#include "common/config.h"
#include "common/http.h"
#include "common/redis.h"

using namespace etp2s;

namespace {

using Env = std::map<std::string, std::string>;

// An object (principal) id, as REDIS_USERNAME holds with REDIS_AUTH=entra.
const char* const kOid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

Env minimal() {
  return {{"ETP_BASE_URL", "https://etp.us.fireeye.com"},
          {"ETP_API_KEY", "k-0123456789abcdef"},
          {"SENTINEL_DCE_URL", "https://dce-1.westeurope-1.ingest.monitor.azure.com"},
          {"SENTINEL_DCR_ID", "dcr-0123456789abcdef0123456789abcdef"}};
}

Env data_collector() {
  Env e = minimal();
  e["SENTINEL_MODE"] = "data-collector";
  e["SENTINEL_WORKSPACE_ID"] = "00000000-1111-2222-3333-444444444444";
  e["SENTINEL_SHARED_KEY"] =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
  return e;
}

Env with(Env base, const Env& changes) {
  for (const auto& [k, v] : changes) base[k] = v;
  return base;
}

// load_config on another thread, waited for at most 5 s. On a hang the future is leaked on purpose: its
// destructor would wait for the blocked thread, and the process exit ends it anyway.
std::optional<Result<Config, std::string>> load_within_5s(const Env& env) {
  auto f = std::async(std::launch::async, [env] { return load_config(map_env(env)); });
  if (f.wait_for(std::chrono::seconds(5)) != std::future_status::ready) {
    new std::future<Result<Config, std::string>>(std::move(f));
    return std::nullopt;
  }
  return f.get();
}

std::string temp_dir() {
  std::string tmpl = ::testing::TempDir() + "etp2s-hardening-XXXXXX";
  return mkdtemp(tmpl.data()) ? tmpl : std::string();
}

std::string write_file(const std::string& path, const std::string& content) {
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

struct Refused {
  std::string label;
  Env env;
  std::string variable;  // must be named in the message
  std::string secret;    // must not appear in the message (empty: none)
};

std::vector<Refused> refused_rows(const std::string& dir) {
  const std::string fifo = dir + "/fifo";
  mkfifo(fifo.c_str(), 0600);
  const std::string big = write_file(dir + "/big", std::string(64 * 1024 + 1, 'k'));
  const std::string crlf = write_file(dir + "/crlf", "file-key-123456\r\nX-Injected: 1\n");
  const std::string long_label(64, 'a');
  const std::string huge(40000, 'a');
  const Env m = minimal();
  const Env dc = data_collector();
  const std::string redis_pw = write_file(dir + "/redis_pw", "entra-file-pw-4\n");
  return {
      {"rate above 60", with(m, {{"ETP_RATE_LIMIT_PER_MIN", "61"}}), "ETP_RATE_LIMIT_PER_MIN", ""},
      {"details unknown", with(m, {{"ETP_DETAILS", "some"}}), "ETP_DETAILS", ""},
      {"trace unknown", with(m, {{"ETP_TRACE", "yes"}}), "ETP_TRACE", ""},
      {"quarantine unknown", with(m, {{"ETP_QUARANTINE", "1"}}), "ETP_QUARANTINE", ""},
      {"quarantine sweep negative", with(m, {{"ETP_QUARANTINE_SWEEP_H", "-1"}}), "ETP_QUARANTINE_SWEEP_H",
       ""},
      {"lookup queue tiny", with(m, {{"ETP_LOOKUP_QUEUE_MAX", "10"}}), "ETP_LOOKUP_QUEUE_MAX", ""},
      {"rate 100000", with(m, {{"ETP_RATE_LIMIT_PER_MIN", "100000"}}), "ETP_RATE_LIMIT_PER_MIN", ""},
      {"override 0 keeps the cap",
       with(m, {{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "0"}}),
       "ETP_RATE_LIMIT_PER_MIN", ""},
      {"override not 0/1", with(m, {{"ETP_RATE_LIMIT_OVERRIDE", "yes"}}), "ETP_RATE_LIMIT_OVERRIDE", ""},
      {"loopback by prefix", with(m, {{"ETP_BASE_URL", "http://127.evil.example"}}), "ETP_BASE_URL", ""},
      {"loopback prefix, longer", with(m, {{"ETP_BASE_URL", "http://127.0.0.1.evil.example/"}}),
       "ETP_BASE_URL", ""},
      {"octal-looking first octet", with(m, {{"ETP_BASE_URL", "http://0127.0.0.1/"}}), "ETP_BASE_URL", ""},
      {"IMDS for ETP_BASE_URL", with(m, {{"ETP_BASE_URL", "http://169.254.169.254/"}}), "ETP_BASE_URL", ""},
      {"IMDS for SENTINEL_DCE_URL", with(m, {{"SENTINEL_DCE_URL", "http://169.254.169.254/x"}}),
       "SENTINEL_DCE_URL", ""},
      {"IMDS for AZURE_AUTHORITY_HOST", with(m, {{"AZURE_AUTHORITY_HOST", "http://169.254.169.254"}}),
       "AZURE_AUTHORITY_HOST", ""},
      {"port above 65535", with(m, {{"ETP_BASE_URL", "https://x.example:99999"}}), "ETP_BASE_URL", ""},
      {"port 0", with(m, {{"ETP_TOKEN_URL", "https://x.example:0/token"}}), "ETP_TOKEN_URL", ""},
      {"empty port", with(m, {{"ETP_TOKEN_URL", "https://x.example:/token"}}), "ETP_TOKEN_URL", ""},
      {"space in URL", with(m, {{"ETP_BASE_URL", "https://x .example"}}), "ETP_BASE_URL", ""},
      {"space in URL path", with(m, {{"SENTINEL_DCE_URL", "https://dce.example/a b"}}), "SENTINEL_DCE_URL",
       ""},
      {"tab in URL", with(m, {{"SENTINEL_DCE_URL", "https://dce.example/\tx"}}), "SENTINEL_DCE_URL", ""},
      {"redis port 99999", with(m, {{"REDIS_URL", "redis://127.0.0.1:99999/0"}}), "REDIS_URL", ""},
      {"redis db not a number", with(m, {{"REDIS_URL", "redis://127.0.0.1:6379/abc"}}), "REDIS_URL", ""},
      {"redis db negative", with(m, {{"REDIS_URL", "redis://127.0.0.1:6379/-1"}}), "REDIS_URL", ""},
      {"redis unix without a path", with(m, {{"REDIS_URL", "unix://"}}), "REDIS_URL", ""},
      {"redis unix relative path", with(m, {{"REDIS_URL", "unix://redis.sock"}}), "REDIS_URL", ""},
      {"redis bad port, password hidden",
       with(m, {{"REDIS_URL", "rediss://:hunter2-redis-pw@h.example:70000/0"}}), "REDIS_URL",
       "hunter2-redis-pw"},
      {"redis user without password", with(m, {{"REDIS_URL", "redis://alice:@127.0.0.1:6379/0"}}),
       "REDIS_URL", ""},
      // REDIS_AUTH=entra (the password is an Entra ID token for REDIS_USERNAME)
      {"entra without a user",
       with(m, {{"REDIS_AUTH", "entra"}, {"REDIS_URL", "rediss://h.example:10000/0"}}), "REDIS_USERNAME", ""},
      {"entra with a password in the URL",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "rediss://:entra-url-pw-1@h.example:10000"}}),
       "REDIS_URL", "entra-url-pw-1"},
      {"entra with a user in the URL",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "rediss://bob:entra-url-pw-2@h.example:10000"}}),
       "REDIS_URL", "entra-url-pw-2"},
      {"entra with REDIS_PASSWORD",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "rediss://h.example:10000"},
                {"REDIS_PASSWORD", "entra-redis-pw-3"}}),
       "REDIS_PASSWORD", "entra-redis-pw-3"},
      {"entra with REDIS_PASSWORD_FILE",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "rediss://h.example:10000"},
                {"REDIS_PASSWORD_FILE", redis_pw}}),
       "REDIS_PASSWORD", "entra-file-pw-4"},
      {"entra in clear to a remote host",
       with(m,
            {{"REDIS_AUTH", "entra"}, {"REDIS_USERNAME", kOid}, {"REDIS_URL", "redis://h.example:6379/0"}}),
       "REDIS_URL", ""},
      {"entra in clear, loopback by prefix",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "redis://127.0.0.1.evil.example/0"}}),
       "REDIS_URL", ""},
      {"redis auth unknown", with(m, {{"REDIS_AUTH", "token"}}), "REDIS_AUTH", ""},
      {"redis user without entra", with(m, {{"REDIS_USERNAME", kOid}}), "REDIS_USERNAME", ""},
      {"entra with a half app credential",
       with(m, {{"REDIS_AUTH", "entra"},
                {"REDIS_USERNAME", kOid},
                {"REDIS_URL", "rediss://h.example:10000"},
                {"AZURE_CLIENT_SECRET", "entra-app-secret-5"}}),
       "AZURE_TENANT_ID", "entra-app-secret-5"},
      {"secret file /dev/zero", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", "/dev/zero"}}),
       "ETP_API_KEY_FILE", ""},
      {"secret file a FIFO", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", fifo}}), "ETP_API_KEY_FILE",
       ""},
      {"secret file a directory", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", dir}}),
       "ETP_API_KEY_FILE", ""},
      {"secret file above 64 KiB", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", big}}),
       "ETP_API_KEY_FILE", ""},
      {"secret file with CR LF", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", crlf}}),
       "ETP_API_KEY_FILE", "file-key-123456"},
      {"secret with CR LF", with(m, {{"ETP_API_KEY", "key-abcdef-123\r\nX-Injected: 1"}}), "ETP_API_KEY",
       "key-abcdef-123"},
      {"client secret with LF",
       with(m, {{"AZURE_TENANT_ID", "t"},
                {"AZURE_CLIENT_ID", "c"},
                {"AZURE_CLIENT_SECRET", "az-secret-99\nX: y"}}),
       "AZURE_CLIENT_SECRET", "az-secret-99"},
      {"identity header with CR",
       with(m, {{"IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi"}, {"IDENTITY_HEADER", "id-header-77\rX: y"}}),
       "IDENTITY_HEADER", "id-header-77"},
      {"client id with CR LF",
       with(m, {{"ETP_API_KEY", ""},
                {"ETP_CLIENT_ID", "cid\r\nX: y"},
                {"ETP_CLIENT_SECRET", "s3cret-value-xyz"}}),
       "ETP_CLIENT_ID", "s3cret-value-xyz"},
      {"shared key all padding", with(dc, {{"SENTINEL_SHARED_KEY", "========"}}), "SENTINEL_SHARED_KEY",
       "========"},
      {"shared key not base64", with(dc, {{"SENTINEL_SHARED_KEY", "not base64!"}}), "SENTINEL_SHARED_KEY",
       "not base64!"},
      {"40,000-character domain", with(m, {{"ETP_DOMAINS", huge + ".com"}}), "ETP_DOMAINS", ""},
      {"label of 64", with(m, {{"ETP_DOMAINS", long_label + ".com"}}), "ETP_DOMAINS", ""},
      {"domain of 254", with(m, {{"ETP_DOMAINS", std::string(250, 'a').insert(60, ".") + ".com"}}),
       "ETP_DOMAINS", ""},
      {"40,000-character DCR id", with(m, {{"SENTINEL_DCR_ID", "dcr-" + huge}}), "SENTINEL_DCR_ID", ""},
      {"40,000-character log type", with(dc, {{"SENTINEL_LOG_TYPE", huge + "!"}}), "SENTINEL_LOG_TYPE", ""},
      {"40,000-character workspace", with(dc, {{"SENTINEL_WORKSPACE_ID", huge}}), "SENTINEL_WORKSPACE_ID",
       ""},
  };
}

}  // namespace

TEST(ConfigHardening, BadValuesAreRefusedNamingTheVariableWithoutTheSecret) {
  std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  for (const auto& row : refused_rows(dir)) {
    SCOPED_TRACE(row.label);
    auto c = load_within_5s(row.env);
    ASSERT_TRUE(c.has_value()) << "load_config hung";
    ASSERT_FALSE(c->ok());
    const std::string& m = c->error();
    EXPECT_NE(m.find(row.variable), std::string::npos) << m;
    if (!row.secret.empty()) {
      EXPECT_EQ(m.find(row.secret), std::string::npos) << m;
    }
    EXPECT_LT(m.size(), 2000u) << "the message echoes an unbounded value";
  }
}

TEST(ConfigHardening, GoodValuesAreStillAccepted) {
  const Env m = minimal();
  std::string dir = temp_dir();
  ASSERT_FALSE(dir.empty());
  const std::string key = write_file(dir + "/key", "key-from-file-123456\n");
  const std::vector<std::pair<std::string, Env>> rows = {
      {"loopback http", with(m, {{"ETP_BASE_URL", "http://127.0.0.1:8080"}})},
      {"loopback http, 127/8", with(m, {{"ETP_BASE_URL", "http://127.1.2.3/"}})},
      {"localhost", with(m, {{"ETP_BASE_URL", "http://localhost:1/x"}})},
      {"IPv6 loopback", with(m, {{"ETP_BASE_URL", "http://[::1]:99/"}})},
      {"https with a port", with(m, {{"ETP_BASE_URL", "https://etp.example:65535/"}})},
      {"IMDS for AZURE_IMDS_ENDPOINT",
       with(m, {{"AZURE_IMDS_ENDPOINT", "http://169.254.169.254/metadata/identity/oauth2/token"}})},
      {"IMDS for IDENTITY_ENDPOINT", with(m, {{"IDENTITY_ENDPOINT", "http://169.254.169.254/msi/token"},
                                              {"IDENTITY_HEADER", "header-value-1"}})},
      {"rate 60", with(m, {{"ETP_RATE_LIMIT_PER_MIN", "60"}})},
      {"override + 600", with(m, {{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}})},
      {"redis unix socket", with(m, {{"REDIS_URL", "unix:///tmp/redis.sock"}})},
      {"redis ACL user", with(m, {{"REDIS_URL", "redis://user:pass@127.0.0.1:6380/2"}})},
      {"redis password only", with(m, {{"REDIS_URL", "rediss://:k3y@h.example:10000/0"}})},
      {"entra over TLS", with(m, {{"REDIS_AUTH", "entra"},
                                  {"REDIS_USERNAME", kOid},
                                  {"REDIS_URL", "rediss://h.example:10000/0"},
                                  {"AZURE_CLIENT_ID", kOid}})},
      {"entra in clear to loopback",
       with(m,
            {{"REDIS_AUTH", "entra"}, {"REDIS_USERNAME", kOid}, {"REDIS_URL", "redis://127.0.0.1:6379/0"}})},
      {"redis auth password", with(m, {{"REDIS_AUTH", "password"}, {"REDIS_PASSWORD", "redis-password-1"}})},
      {"domains", with(m, {{"ETP_DOMAINS", std::string(63, 'a') + ".example.com, contoso-1.com"}})},
      {"secret file", with(m, {{"ETP_API_KEY", ""}, {"ETP_API_KEY_FILE", key}})},
      {"shared key", data_collector()},
      {"supporting data off",
       with(m, {{"ETP_DETAILS", "off"}, {"ETP_TRACE", "off"}, {"ETP_QUARANTINE", "off"}})},
      {"details new", with(m, {{"ETP_DETAILS", "new"}, {"ETP_QUARANTINE_SWEEP_H", "0"}})},
  };
  for (const auto& [label, env] : rows) {
    SCOPED_TRACE(label);
    auto c = load_within_5s(env);
    ASSERT_TRUE(c.has_value()) << "load_config hung";
    EXPECT_TRUE(c->ok()) << c->error();
  }
}

// Every role talks to Redis: with REDIS_AUTH=entra the coordinator, the fetchers and `status` load (and
// check) the Azure identity too, not only the shipper.
TEST(ConfigHardening, EntraRedisLoadsTheAzureIdentityInEveryRole) {
  const Env env = {{"REDIS_AUTH", "entra"},
                   {"REDIS_USERNAME", kOid},
                   {"REDIS_URL", "rediss://h.example:10000/0"},
                   {"AZURE_TENANT_ID", "11111111-2222-3333-4444-555555555555"},
                   {"AZURE_CLIENT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
                   {"AZURE_CLIENT_SECRET", "entra-role-secret-6"},
                   {"ETP_BASE_URL", "https://etp.us.fireeye.com"},
                   {"ETP_API_KEY", "k-0123456789abcdef"}};
  for (ConfigNeeds needs : {ConfigNeeds{false, false, true}, ConfigNeeds{true, false, true}}) {
    auto c = load_config(map_env(env), needs);
    ASSERT_TRUE(c.ok()) << c.error();
    EXPECT_EQ(c->redis_auth, "entra");
    EXPECT_EQ(c->redis_username, kOid);
    EXPECT_EQ(c->azure_client_id, "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
    EXPECT_EQ(c->azure_client_secret.reveal(), "entra-role-secret-6");
    auto bad = with(env, {{"AZURE_CLIENT_SECRET", "entra-role-secret-7\r\nX: y"}});
    auto refused = load_config(map_env(bad), needs);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.error().find("AZURE_CLIENT_SECRET"), std::string::npos) << refused.error();
    EXPECT_EQ(refused.error().find("entra-role-secret-7"), std::string::npos) << refused.error();
  }
  // Without entra a role that does not ship leaves the identity alone (as before).
  auto plain = load_config(map_env(with(env, {{"REDIS_AUTH", "password"}, {"REDIS_USERNAME", ""}})),
                           ConfigNeeds{false, false, true});
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_TRUE(plain->azure_client_id.empty());
}

TEST(ConfigHardening, RedisUrlIsParsedFully) {
  auto acl = parse_redis_url("redis://user:pass@127.0.0.1:6380/2");
  ASSERT_TRUE(acl.ok()) << acl.error();
  EXPECT_EQ(acl->user, "user");  // Redis sends AUTH user pass
  EXPECT_EQ(acl->password.reveal(), "pass");
  EXPECT_EQ(acl->host, "127.0.0.1");
  EXPECT_EQ(acl->port, 6380);
  EXPECT_EQ(acl->db, 2);
  auto unix_socket = parse_redis_url("unix:///tmp/redis.sock");
  ASSERT_TRUE(unix_socket.ok());
  EXPECT_EQ(unix_socket->unix_path, "/tmp/redis.sock");
  auto v6 = parse_redis_url("redis://[::1]:6381");
  ASSERT_TRUE(v6.ok()) << v6.error();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 6381);
  EXPECT_TRUE(parse_redis_url("redis://:pw@127.0.0.1:6379/0")->user.empty());
}

TEST(ConfigHardening, LoopbackIsDecidedByTheParsedHost) {
  for (const char* host : {"localhost", "::1", "[::1]", "127.0.0.1", "127.255.255.254"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"127.evil.example", "127.0.0.1.evil.example", "127.0.0", "127.0.0.256",
                           "0127.0.0.1", "128.0.0.1", "localhost.evil.example", "127.0.0.1 "}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
  EXPECT_TRUE(check_url_allowed("http://169.254.169.254/").has_value());
  EXPECT_FALSE(check_url_allowed("http://169.254.169.254/", AllowImds::Yes).has_value());
}

// The real binary: a refused configuration exits 2 naming both variables on stderr. The binary is not a
// dependency of this test target (common tests cannot depend on app/); `cmake --build build` builds every
// target before ctest runs, so it is there. With only common_unit_tests built, build etp2sentinel first.
TEST(ConfigHardening, TheBinaryExits2NamingBothVariables) {
  std::string bin = std::string(ETP2S_BINARY_DIR) + "/app/etp2sentinel";
  struct stat st {};
  ASSERT_EQ(::stat(bin.c_str(), &st), 0) << bin << " is missing: build the etp2sentinel target first";
  std::string cmd =
      "env -i PATH=/usr/bin:/bin ETP_RATE_LIMIT_PER_MIN=100000 "
      "REDIS_URL='redis://:hunter2-redis-pw@127.0.0.1:99999/0' timeout 20 '" +
      bin + "' status 2>&1 >/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) err.append(buf, n);
  int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 2) << err;
  EXPECT_NE(err.find("ETP_RATE_LIMIT_PER_MIN"), std::string::npos) << err;
  EXPECT_NE(err.find("REDIS_URL"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2-redis-pw"), std::string::npos) << err;
}

TEST(ConfigHardening, TheBinaryExits2ForEntraRedisWithAPassword) {
  std::string bin = std::string(ETP2S_BINARY_DIR) + "/app/etp2sentinel";
  struct stat st {};
  ASSERT_EQ(::stat(bin.c_str(), &st), 0) << bin << " is missing: build the etp2sentinel target first";
  std::string cmd =
      "env -i PATH=/usr/bin:/bin REDIS_AUTH=entra REDIS_PASSWORD=entra-bin-pw-8 "
      "REDIS_URL='redis://redis.example:6379/0' timeout 20 '" +
      bin + "' status 2>&1 >/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string err;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) err.append(buf, n);
  int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << err;
  EXPECT_EQ(WEXITSTATUS(status), 2) << err;
  for (const char* v : {"REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_URL"})
    EXPECT_NE(err.find(v), std::string::npos) << v << ": " << err;
  EXPECT_EQ(err.find("entra-bin-pw-8"), std::string::npos) << err;
}
