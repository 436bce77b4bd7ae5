// REDIS_AUTH=entra against Debian's real redis-server: an ACL user named like an object id whose password is
// the token the Azure stand-in (sentinel-sim) issues for https://redis.azure.com, as Azure Managed Redis
// checks an Entra ID token. The stand-in's Redis token is fixed text that the test rotates, and can be
// short-lived; "refused" is an ACL password that is not the issued token.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "common/config.h"
#include "common/redis.h"
#include "sim/sentinel/sentinel_sim.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;
using namespace std::chrono_literals;

namespace {

const std::string kOid = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";  // REDIS_USERNAME: the identity's object id
const std::string kAdminPassword = "entra-test-admin-password";

// redis-server on a free loopback port (with tls: only a TLS port, as Azure Managed Redis), the default user
// behind a password (the test's own admin connection) and the ACL user kOid.
class AclRedis {
 public:
  explicit AclRedis(bool tls = false) : dir_(temp_dir("etp2s-redis-entra")), port_(free_port()), tls_(tls) {
    std::vector<std::string> argv{
        "/usr/bin/redis-server", "--bind",      "127.0.0.1", "--dir", dir_, "--save", "",
        "--requirepass",         kAdminPassword};
    if (tls) {
      write_server_cert(cert(), dir_ + "/server.key", "DNS:localhost");
      argv.insert(argv.end(), {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file", cert(),
                               "--tls-key-file", dir_ + "/server.key", "--tls-auth-clients", "no"});
    } else {
      argv.insert(argv.end(), {"--port", std::to_string(port_)});
    }
    proc_ = Process(argv, {}, dir_ + "/redis.log");
    for (int i = 0; i < 200 && !port_open(port_); ++i) std::this_thread::sleep_for(25ms);
    auto a = parse_redis_url((tls ? "rediss://:" : "redis://:") + kAdminPassword + "@" +
                                 (tls ? "localhost" : "127.0.0.1") + ":" + std::to_string(port_),
                             tls ? cert() : "");
    admin_ = std::make_unique<Redis>(a.value());
  }
  std::string url() const {
    return (tls_ ? "rediss://localhost:" : "redis://127.0.0.1:") + std::to_string(port_) + "/0";
  }
  std::string cert() const { return dir_ + "/server.crt"; }
  Redis& admin() { return *admin_; }
  // The ACL user kOid with exactly this password (what Azure does when it accepts a token).
  void accept_only(const std::string& token) {
    auto r = admin_->command({"ACL", "SETUSER", kOid, "on", "resetpass", ">" + token, "~*", "&*", "+@all"});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  void kill_clients_of_user() {
    auto r = admin_->command({"CLIENT", "KILL", "USER", kOid});
    ASSERT_TRUE(r.ok()) << r.error();
  }
  // How many AUTH commands the server has run (the admin connection's own one included).
  long long auth_calls() {
    auto r = admin_->command({"INFO", "commandstats"});
    if (!r.ok()) return -1;
    auto at = r->str.find("cmdstat_auth:calls=");
    return at == std::string::npos ? 0 : std::stoll(r->str.substr(at + 19));
  }

 private:
  std::string dir_;
  int port_;
  bool tls_;
  Process proc_;
  std::unique_ptr<Redis> admin_;
};

sim::SentinelSimOptions sim_options(const std::string& first_token) {
  sim::SentinelSimOptions o;
  o.redis_token = first_token;
  return o;
}

// The configuration Terraform gives the connector (a user-assigned managed identity through IMDS), with the
// stand-in as IMDS; or an app registration's client secret against the stand-in's token endpoint.
Config entra_config(const AclRedis& redis, const sim::SentinelSim& azure, bool client_secret = false) {
  std::map<std::string, std::string> env{{"REDIS_AUTH", "entra"},
                                         {"REDIS_USERNAME", kOid},
                                         {"REDIS_URL", redis.url()},
                                         {"REDIS_CA_BUNDLE", redis.cert()},
                                         {"AZURE_CLIENT_ID", sim::SentinelSimOptions().client_id}};
  if (client_secret) {
    env["AZURE_TENANT_ID"] = sim::SentinelSimOptions().tenant_id;
    env["AZURE_CLIENT_SECRET"] = sim::SentinelSimOptions().client_secret;
    env["AZURE_AUTHORITY_HOST"] = azure.base_url();
  } else {
    env["AZURE_IMDS_ENDPOINT"] = azure.base_url() + "/metadata/identity/oauth2/token";
  }
  auto c = load_config(map_env(env), ConfigNeeds{false, false, true});  // the coordinator's needs
  EXPECT_TRUE(c.ok()) << c.error();
  return c.ok() ? c.value() : Config{};
}

Redis connect(const Config& c) {
  auto a = redis_address(c);
  EXPECT_TRUE(a.ok()) << a.error();
  return Redis(a.value());
}

int redis_tokens_issued(const sim::SentinelSim& azure) {
  return azure.stats()["token_requests"].value("redis", 0);
}

// The command, retried for up to 3 s (a killed connection fails the command that finds it gone).
Result<RedisReply, std::string> eventually(Redis& redis, const std::vector<std::string>& argv) {
  auto r = redis.command(argv);
  for (int i = 0; i < 30 && !r.ok(); ++i) {
    std::this_thread::sleep_for(100ms);
    r = redis.command(argv);
  }
  return r;
}

}  // namespace

// (a) Commands, pipelines and scripts work as the object id with the issued token, over TLS.
TEST(RedisEntra, CommandsWorkWithTheIssuedTokenOverTls) {
  AclRedis server(/*tls=*/true);
  sim::SentinelSim azure(sim_options("redis-token-a-0001"));
  server.accept_only("redis-token-a-0001");
  Redis redis = connect(entra_config(server, azure));
  auto who = redis.command({"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.error();
  EXPECT_EQ(who->str, kOid);
  ASSERT_TRUE(redis.command({"SET", "k", "v"}).ok());
  auto piped = redis.pipeline({{"INCR", "n"}, {"GET", "k"}});
  ASSERT_TRUE(piped.ok()) << piped.error();
  EXPECT_EQ(piped.value()[1].str, "v");
  auto script = redis.eval("return redis.call('GET', KEYS[1])", {"k"}, {});
  ASSERT_TRUE(script.ok()) << script.error();
  EXPECT_EQ(script->str, "v");
  EXPECT_EQ(redis_tokens_issued(azure), 1);  // the stand-in was asked for https://redis.azure.com
}

// (b) The token rotates, the server drops the user's connections (as Azure does for an expired token): every
// connection comes back and authenticates with the new token.
TEST(RedisEntra, KilledConnectionsReconnectWithTheNewToken) {
  AclRedis server;
  sim::SentinelSim azure(sim_options("redis-token-b-0001"));
  server.accept_only("redis-token-b-0001");
  Config c = entra_config(server, azure, /*client_secret=*/true);
  Redis first = connect(c), second = connect(c);
  auto id1 = first.command({"CLIENT", "ID"});
  ASSERT_TRUE(id1.ok()) << id1.error();
  ASSERT_TRUE(second.command({"PING"}).ok());
  EXPECT_EQ(redis_tokens_issued(azure), 1);  // one token for the process, not one per connection

  azure.set_faults({{"redis_token", "redis-token-b-0002"}});
  server.accept_only("redis-token-b-0002");
  server.kill_clients_of_user();
  for (Redis* r : {&first, &second}) {
    auto who = eventually(*r, {"ACL", "WHOAMI"});
    ASSERT_TRUE(who.ok()) << who.error();
    EXPECT_EQ(who->str, kOid);
  }
  auto id2 = first.command({"CLIENT", "ID"});
  ASSERT_TRUE(id2.ok());
  EXPECT_NE(id1->integer, id2->integer);  // a new connection
  EXPECT_EQ(redis_tokens_issued(azure), 2);
}

// (c) A short-lived token is renewed before it expires and sent with AUTH on the open connection (the same
// connection id), on each connection, well before the first token's lifetime (7-8 s) is over.
TEST(RedisEntra, ShortLivedTokenIsReAuthenticatedOnTheLiveConnectionBeforeExpiry) {
  AclRedis server;
  sim::SentinelSim azure(sim_options("redis-token-c-0001"));
  azure.set_faults({{"token_ttl_s", 8}});
  server.accept_only("redis-token-c-0001");
  Config c = entra_config(server, azure);
  auto start = std::chrono::steady_clock::now();
  Redis first = connect(c), second = connect(c);
  auto id1 = first.command({"CLIENT", "ID"});
  auto id2 = second.command({"CLIENT", "ID"});
  ASSERT_TRUE(id1.ok() && id2.ok());
  // From now on only the new token is accepted: a reconnect with the old one, or a re-AUTH with it, fails.
  azure.set_faults({{"redis_token", "redis-token-c-0002"}});
  server.accept_only("redis-token-c-0002");
  const long long auths_before = server.auth_calls();
  while (std::chrono::steady_clock::now() - start < 7s && server.auth_calls() < auths_before + 2) {
    ASSERT_TRUE(first.command({"PING"}).ok());
    ASSERT_TRUE(second.command({"PING"}).ok());
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 7s) << "no re-AUTH before the first token expired";
  EXPECT_EQ(server.auth_calls(), auths_before + 2);  // one re-AUTH per connection
  auto again1 = first.command({"CLIENT", "ID"});
  auto again2 = second.command({"CLIENT", "ID"});
  ASSERT_TRUE(again1.ok() && again2.ok());
  EXPECT_EQ(again1->integer, id1->integer);  // the same connections: re-authenticated, not reconnected
  EXPECT_EQ(again2->integer, id2->integer);
  EXPECT_EQ(redis_tokens_issued(azure), 2);
}

// (d) A token the server refuses: one renewal is tried, then a clear error naming REDIS_USERNAME's user and
// what to check, without the token; further attempts do not hammer the token endpoint.
TEST(RedisEntra, RefusedTokenIsAClearErrorWithoutTheToken) {
  AclRedis server;
  const std::string issued = "redis-token-d-refused-0001";
  sim::SentinelSim azure(sim_options(issued));
  server.accept_only("something-else-entirely");
  Redis redis = connect(entra_config(server, azure));
  auto r = redis.command({"PING"});
  ASSERT_FALSE(r.ok());
  const std::string& m = r.error();
  EXPECT_NE(m.find("AUTH failed"), std::string::npos) << m;
  EXPECT_NE(m.find("refused"), std::string::npos) << m;
  EXPECT_NE(m.find("REDIS_USERNAME " + kOid), std::string::npos) << m;
  EXPECT_NE(m.find("access policy"), std::string::npos) << m;
  EXPECT_EQ(m.find(issued), std::string::npos) << m;
  EXPECT_EQ(m.find("[REDACTED]"), std::string::npos) << "the token was put in the text: " << m;
  EXPECT_EQ(redis_tokens_issued(azure), 2);  // the first token and one renewal
  ASSERT_FALSE(redis.command({"PING"}).ok());
  EXPECT_EQ(redis_tokens_issued(azure), 2);
  // Once the server accepts the token, the same client works.
  server.accept_only(issued);
  auto who = redis.command({"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.error();
  EXPECT_EQ(who->str, kOid);
}

// Password authentication is unchanged: REDIS_AUTH=password (the default) sends the URL's password.
TEST(RedisEntra, PasswordAuthIsUnchanged) {
  AclRedis server;
  auto c = load_config(map_env({{"REDIS_URL", "redis://:" + kAdminPassword + "@" + server.url().substr(8)}}),
                       ConfigNeeds{false, false, true});
  ASSERT_TRUE(c.ok()) << c.error();
  Redis redis = connect(c.value());
  auto who = redis.command({"ACL", "WHOAMI"});
  ASSERT_TRUE(who.ok()) << who.error();
  EXPECT_EQ(who->str, "default");
}
