// rediss://: the connector's own TLS to Redis (Debian bookworm's hiredis has none), against Debian's real
// redis-server listening with --tls-port, as Azure Managed Redis does.
#include <gtest/gtest.h>

#include "common/redis.h"
#include "common/state.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

class TlsRedis {
 public:
  explicit TlsRedis(const std::string& san, const std::string& password = "")
      : dir_(temp_dir("etp2s-redis-tls")), port_(free_port()), password_(password) {
    write_server_cert(cert(), dir_ + "/server.key", san);
    start();
  }
  void start() {
    std::vector<std::string> argv{"/usr/bin/redis-server",
                                  "--port",
                                  "0",
                                  "--tls-port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--tls-cert-file",
                                  cert(),
                                  "--tls-key-file",
                                  dir_ + "/server.key",
                                  "--tls-ca-cert-file",
                                  cert(),
                                  "--tls-auth-clients",
                                  "no",
                                  "--dir",
                                  dir_,
                                  "--appendonly",
                                  "yes",
                                  "--save",
                                  ""};
    if (!password_.empty()) argv.insert(argv.end(), {"--requirepass", password_});
    proc_ = Process(argv, {}, dir_ + "/redis.log");
    for (int i = 0; i < 200 && !port_open(port_); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  void kill9() {
    proc_.kill(SIGKILL);
    proc_.wait_for(std::chrono::seconds(5));
  }
  std::string cert() const { return dir_ + "/server.crt"; }
  std::string url(const std::string& host) const {
    return "rediss://" + (password_.empty() ? "" : ":" + password_ + "@") + host + ":" +
           std::to_string(port_) + "/0";
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int port_;
  std::string password_;
  Process proc_;
};

Redis connect(const std::string& url, const std::string& ca) {
  auto a = parse_redis_url(url, ca);
  EXPECT_TRUE(a.ok());
  return Redis(a.value());
}

}  // namespace

TEST(RedisTls, UrlSchemesParse) {
  auto a = parse_redis_url("rediss://:k3y@etp2s-redis.westeurope.redis.azure.net:10000/0", "/ca.pem");
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->tls);
  EXPECT_EQ(a->host, "etp2s-redis.westeurope.redis.azure.net");
  EXPECT_EQ(a->port, 10000);
  EXPECT_EQ(a->password.reveal(), "k3y");
  EXPECT_EQ(a->ca_bundle, "/ca.pem");
  EXPECT_FALSE(parse_redis_url("redis://127.0.0.1:6379/0")->tls);
  EXPECT_FALSE(parse_redis_url("http://127.0.0.1:6379").ok());
  EXPECT_FALSE(parse_redis_url("rediss://").ok());
}

TEST(RedisTls, CommandsPipelinesAndScriptsWorkThroughTheTunnel) {
  TlsRedis server("DNS:localhost", "tls-test-password");
  Redis redis = connect(server.url("localhost"), server.cert());
  auto pong = redis.command({"PING"});
  ASSERT_TRUE(pong.ok()) << pong.error();
  EXPECT_EQ(pong->str, "PONG");
  // A value larger than any TLS record and socket buffer, with every byte value.
  std::string big(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 131 % 256);
  ASSERT_TRUE(redis.command({"SET", "big", big}).ok());
  auto got = redis.command({"GET", "big"});
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->str == big);
  std::vector<std::vector<std::string>> many;
  for (int i = 0; i < 2000; ++i) many.push_back({"INCR", "counter"});
  auto replies = redis.pipeline(many);
  ASSERT_TRUE(replies.ok()) << replies.error();
  EXPECT_EQ(replies->back().integer, 2000);
  auto lua = redis.eval("return redis.call('GET', KEYS[1])", {"counter"}, {});
  ASSERT_TRUE(lua.ok());
  EXPECT_EQ(lua->str, "2000");
  // The connector's state store on top of it.
  StateStore store(redis);
  store.set_fatal(fatal_code::kInternal, "test fatal");
  EXPECT_EQ(store.fatal().value_or(FatalError{}).text(), "internal: test fatal");
}

TEST(RedisTls, AnUntrustedCertificateIsRefusedWithTheReason) {
  TlsRedis server("DNS:localhost");
  std::string other = server.dir() + "/other.crt";
  write_server_cert(other, server.dir() + "/other.key", "DNS:localhost");
  Redis redis = connect(server.url("localhost"), other);
  auto r = redis.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("certificate rejected"), std::string::npos) << r.error();
  // The system store does not know our test CA either.
  Redis system = connect(server.url("localhost"), "");
  auto s = system.command({"PING"});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("certificate rejected"), std::string::npos) << s.error();
}

TEST(RedisTls, ACertificateForAnotherHostIsRefused) {
  TlsRedis server("DNS:redis.example.net");
  Redis redis = connect(server.url("localhost"), server.cert());
  auto r = redis.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("certificate rejected"), std::string::npos) << r.error();
  // An IP address is checked against the certificate's IP names, not its DNS names.
  Redis by_ip = connect(server.url("127.0.0.1"), server.cert());
  EXPECT_FALSE(by_ip.command({"PING"}).ok());
}

TEST(RedisTls, AWrongPasswordAndNoServerAreClearErrorsNotHangs) {
  TlsRedis server("IP:127.0.0.1", "right-password");
  auto a = parse_redis_url(server.url("127.0.0.1"), server.cert()).value();
  a.password = Secret("wrong-password");
  Redis wrong(a);
  auto r = wrong.command({"PING"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("AUTH failed"), std::string::npos) << r.error();
  EXPECT_EQ(r.error().find("wrong-password"), std::string::npos);
  Redis nobody = connect("rediss://127.0.0.1:" + std::to_string(free_port()) + "/0", server.cert());
  auto n = nobody.command({"PING"});
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.error().find("cannot connect"), std::string::npos) << n.error();
}

TEST(RedisTls, ReconnectsAfterTheServerRestarts) {
  TlsRedis server("IP:127.0.0.1");
  Redis redis = connect(server.url("127.0.0.1"), server.cert());
  ASSERT_TRUE(redis.command({"SET", "k", "v"}).ok());
  server.kill9();
  EXPECT_FALSE(redis.command({"GET", "k"}).ok());
  server.start();
  std::optional<std::string> value;  // NOLINT
  for (int i = 0; i < 50 && !value; ++i) {
    if (auto r = redis.command({"GET", "k"}))
      value = r->str;
    else
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(value.value_or("<none>"), "v");  // AOF kept it; the tunnel was rebuilt
}
