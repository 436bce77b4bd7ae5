// Trust no peer: with CURVE keys, the coordinator and the shipper hear only fetchers whose public key is
// listed. Peers without keys or with unlisted keys try to lease, finish and stop partitions and to ship
// forged rows over real tcp sockets; collection goes on, nothing forged is delivered or marked, and no fatal
// stop is recorded.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <thread>

#include "common/metrics.h"
#include "common/protocol.h"
#include "common/state.h"
#include "coordinator/coordinator.h"
#include "fetcher/fetcher.h"
#include "shipper/service.h"
#include "sim/etp/etp_sim.h"
#include "sim/sentinel/sentinel_sim.h"
#include "tests/support/one_day.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

std::string tcp_endpoint() {
  return "tcp://127.0.0.1:" + std::to_string(free_port());
}

// What an attacker on the network sends: a lease request, a forged "done" and "fatal", and a forged row
// batch.
void attack(const std::string& coordinator, const std::string& shipper, const KeyPair* keys,
            const std::string& server_public, std::atomic<int>& answers) {
  auto dealer = [&](const std::string& endpoint) {
    zmq::socket_t s = make_socket(zmq::socket_type::dealer);
    if (keys) {
      s.set(zmq::sockopt::curve_serverkey, server_public);
      s.set(zmq::sockopt::curve_publickey, keys->public_key);
      s.set(zmq::sockopt::curve_secretkey, keys->secret_key.reveal());
    }
    s.connect(endpoint);
    return s;
  };
  zmq::socket_t c = dealer(coordinator), sh = dealer(shipper);
  for (int round = 0; round < 20; ++round) {
    send(c, msg(WantWork{"attacker"}));
    for (const char* p : {"inbound-00", "inbound-01"}) {
      for (long long e = 0; e < 4; ++e) send(c, msg(Kind::Done, LeaseRef{"attacker", p, e}));
    }
    send(c, msg(FatalReport{"attacker", "etp_auth", "forged fatal: stop everything"}));
    send(sh, msg(RowBatch{"forged",
                          "inbound-00",
                          1,
                          "FireEyeETPAlerts_CL",
                          {{"forged-key", now_micros(), R"({"AlertId":"forged"})", {}}}}));
    if (receive(c, std::chrono::milliseconds(50), false)) ++answers;
    if (receive(sh, std::chrono::milliseconds(50), false)) ++answers;
  }
}

}  // namespace

TEST(Security, UnauthenticatedAndUnlistedPeersAreRefusedAndCollectionGoesOn) {
  RedisServer redis;
  sim::EtpSimOptions eo = one_day_of_alerts(400);
  sim::EtpSim etp(eo);
  sim::SentinelSimOptions so;
  sim::SentinelSim sentinel(so);
  KeyPair server = generate_keypair(), fetcher = generate_keypair(), stranger = generate_keypair();
  std::string dir = temp_dir("etp2s-security");
  std::ofstream(dir + "/server.secret") << server.secret_key.reveal();
  std::ofstream(dir + "/fetcher.secret") << fetcher.secret_key.reveal();
  std::ofstream(dir + "/azure.secret") << "sim-azure-client-secret";
  const std::string coordinator_endpoint = tcp_endpoint(), shipper_endpoint = tcp_endpoint();
  auto env = one_day_env(etp, eo.api_key, redis.url());
  env.insert({{"COORDINATOR_ENDPOINT", coordinator_endpoint},
              {"SHIPPER_ENDPOINT", shipper_endpoint},
              {"ZMQ_SERVER_SECRET_KEY_FILE", dir + "/server.secret"},
              {"ZMQ_SERVER_PUBLIC_KEY", server.public_key},
              {"ZMQ_CLIENT_SECRET_KEY_FILE", dir + "/fetcher.secret"},
              {"SENTINEL_DCE_URL", sentinel.base_url()},
              {"SENTINEL_DCR_ID", so.dcr_id},
              {"AZURE_AUTHORITY_HOST", sentinel.base_url()},
              {"AZURE_TENANT_ID", so.tenant_id},
              {"AZURE_CLIENT_ID", so.client_id},
              {"AZURE_CLIENT_SECRET_FILE", dir + "/azure.secret"}});
  auto cfg = load_config(map_env(env));
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  const Config c = cfg.value();
  ASSERT_EQ(c.zmq.client_public, fetcher.public_key);
  ASSERT_EQ(c.zmq.allowed_clients, std::set<std::string>{fetcher.public_key});

  double refused0 = Metrics::get().protocol_refused("unauthenticated").Value();
  std::atomic<bool> stop{false};
  Coordinator coordinator(c, {c.coordinator_endpoint, 5, kMicrosPerSecond, 5});
  int coord_rc = -1, ship_rc = -1, fetch_rc = -1;
  std::thread coord([&] { coord_rc = coordinator.run(stop); });
  std::thread ship([&] { ship_rc = ShipperService(c, {"shipper", c.shipper_endpoint}).run(stop); });
  std::atomic<int> answers{0};
  // Attackers first, while the plan is fresh: a peer with no keys and one with a key nobody listed.
  std::thread plain([&] { attack(coordinator_endpoint, shipper_endpoint, nullptr, "", answers); });
  std::thread unlisted(
      [&] { attack(coordinator_endpoint, shipper_endpoint, &stranger, server.public_key, answers); });
  plain.join();
  unlisted.join();
  std::thread fetch([&] { fetch_rc = Fetcher(c, {"fetcher"}).run(stop); });

  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until && !coordinator.backfill_complete())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_TRUE(coordinator.backfill_complete()) << "collection did not go on";
  // Drain: every truth version in Sentinel.
  std::set<std::string> truth;
  for (const auto& t : etp.truth()) {
    if (t["traffic_type"] == "inbound") truth.insert(t["id"].get<std::string>());
  }
  auto delivered = [&] {
    std::multiset<std::string> ids;
    for (const auto& r : sentinel.rows()) ids.insert(r["AlertId"].get<std::string>());
    return ids;
  };
  auto all_delivered = [&] {
    auto got = delivered();
    return std::set<std::string>(got.begin(), got.end()) == truth;
  };
  until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < until && !all_delivered())
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  fetch.join();
  ship.join();
  coord.join();

  EXPECT_EQ(answers.load(), 0) << "a role answered an unauthenticated peer";
  EXPECT_GE(Metrics::get().protocol_refused("unauthenticated").Value() - refused0, 1)
      << "the unlisted key was not refused by the ZAP handler";
  auto got = delivered();
  EXPECT_EQ(got.count("forged"), 0u) << "a forged row reached Sentinel";
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), truth);
  EXPECT_EQ(got.size(), truth.size()) << "duplicates";
  Redis r(parse_redis_url(redis.url()).value());
  StateStore store(r);
  EXPECT_FALSE(store.fatal().has_value())
      << "a forged fatal was recorded: " << store.fatal().value_or(FatalError{}).text();
  EXPECT_EQ(coord_rc, 0);
  EXPECT_EQ(ship_rc, 0);
  EXPECT_EQ(fetch_rc, 0);
}

TEST(Security, ANonLoopbackEndpointWithoutKeysIsRefusedBeforeAnythingIsBoundOrConnected) {
  RedisServer redis;
  auto cfg = load_config(map_env({{"REDIS_URL", redis.url()},
                                  {"ETP_BASE_URL", "http://127.0.0.1:9"},
                                  {"ETP_API_KEY", "unused-in-this-test"}}),
                         ConfigNeeds{true, false, true});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  Config c = cfg.value();
  std::atomic<bool> stop{false};
  // Every interface: refused without keys. Nothing is bound, so nothing beyond loopback is ever exposed.
  c.coordinator_endpoint = "tcp://0.0.0.0:" + std::to_string(free_port());
  EXPECT_EQ(Coordinator(c, {c.coordinator_endpoint, 5, kMicrosPerSecond, 5}).run(stop), 2);
  // A fetcher pointed beyond loopback in the clear is refused before it connects.
  c.coordinator_endpoint = "tcp://0.0.0.0:" + std::to_string(free_port());  // any interface: not loopback
  c.shipper_endpoint = "inproc://security-test-shipper";
  EXPECT_EQ(Fetcher(c, {"fetcher"}).run(stop), 2);
  // Loopback in the clear stays allowed (tests, one-host setups).
  c.coordinator_endpoint = tcp_endpoint();
  std::atomic<bool> stop_soon{false};
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop_soon = true;
  });
  EXPECT_EQ(Coordinator(c, {c.coordinator_endpoint, 5, kMicrosPerSecond, 5}).run(stop_soon), 0);
  t.join();
}

TEST(Security, CurveKeysAreCheckedAtStart) {
  KeyPair a = generate_keypair(), b = generate_keypair();
  auto load = [](std::map<std::string, std::string> env) {
    env["REDIS_URL"] = "redis://127.0.0.1:6379/0";
    return load_config(map_env(env), ConfigNeeds{false, false, true});
  };
  auto mismatch =
      load({{"ZMQ_SERVER_SECRET_KEY", a.secret_key.reveal()}, {"ZMQ_SERVER_PUBLIC_KEY", b.public_key}});
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.error().find("ZMQ_SERVER_PUBLIC_KEY does not belong to ZMQ_SERVER_SECRET_KEY"),
            std::string::npos);
  EXPECT_EQ(mismatch.error().find(a.secret_key.reveal()), std::string::npos) << "the secret was echoed";
  auto garbage = load({{"ZMQ_CLIENT_SECRET_KEY", "not-a-z85-key-at-all-but-long-enough"}});
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().find("ZMQ_CLIENT_SECRET_KEY"), std::string::npos);
  auto allowed = load({{"ZMQ_ALLOWED_CLIENT_KEYS", a.public_key + ", bogus"}});
  ASSERT_FALSE(allowed.ok());
  EXPECT_NE(allowed.error().find("ZMQ_ALLOWED_CLIENT_KEYS"), std::string::npos);
  auto ok =
      load({{"ZMQ_SERVER_SECRET_KEY", a.secret_key.reveal()}, {"ZMQ_ALLOWED_CLIENT_KEYS", b.public_key}});
  ASSERT_TRUE(ok.ok()) << ok.error();
  EXPECT_EQ(ok->zmq.server_public, a.public_key) << "derived from the secret";
  EXPECT_EQ(ok->zmq.allowed_clients, std::set<std::string>{b.public_key});
}
