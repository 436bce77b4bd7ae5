// End to end: a real redis-server, etp-sim and sentinel-sim on loopback ports, and the etp2sentinel binary.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <spawn.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "common/http.h"
#include "common/lookup_queue.h"
#include "common/state.h"
#include "sim/etp/etp_sim.h"
#include "sim/sentinel/sentinel_sim.h"
#include "sources/lookups.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;
using etp2s::sim::EtpSim;
using etp2s::sim::SentinelSim;

namespace {

using Version = std::pair<std::string, Micros>;  // (alert id, last_modified_on)

struct Stack {
  RedisServer redis;
  std::unique_ptr<EtpSim> etp;
  std::unique_ptr<SentinelSim> sentinel = std::make_unique<SentinelSim>(sim::SentinelSimOptions{});
  std::string dir = temp_dir("etp2s-e2e");

  explicit Stack(sim::EtpSimOptions o) : etp(std::make_unique<EtpSim>(o)) {}

  std::map<std::string, std::string> env(std::map<std::string, std::string> extra = {}) const {
    std::ofstream(dir + "/etp.key") << "sim-api-key-0123456789";
    std::ofstream(dir + "/azure.secret") << "sim-azure-client-secret";
    std::map<std::string, std::string> e = {{"ETP_BASE_URL", etp->base_url()},
                                            {"ETP_API_KEY_FILE", dir + "/etp.key"},
                                            {"REDIS_URL", redis.url()},
                                            {"SENTINEL_DCE_URL", sentinel->base_url()},
                                            {"SENTINEL_DCR_ID", "dcr-00112233445566778899aabbccddeeff"},
                                            {"AZURE_AUTHORITY_HOST", sentinel->base_url()},
                                            {"AZURE_TENANT_ID", "11111111-2222-3333-4444-555555555555"},
                                            {"AZURE_CLIENT_ID", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
                                            {"AZURE_CLIENT_SECRET_FILE", dir + "/azure.secret"},
                                            {"LOG_LEVEL", "info"}};
    for (auto& [k, v] : extra) e[k] = v;
    return e;
  }

  Process start(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                const std::string& log) const {
    std::vector<std::string> argv{binary("app/etp2sentinel")};
    argv.insert(argv.end(), args.begin(), args.end());
    return Process(argv, env, dir + "/" + log);
  }

  std::string log(const std::string& name) const {
    std::ifstream in(dir + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::set<Version> truth() const {
    std::set<Version> out;
    for (const auto& t : etp->truth())
      out.insert({t["id"], *parse_time(t["last_modified_on"].get<std::string>())});
    return out;
  }

  // The rows of one table (the alerts' rows carry no _Stream).
  std::vector<nlohmann::json> rows_of(const std::string& dcr_stream = "") const {
    std::vector<nlohmann::json> out;
    for (const auto& r : sentinel->rows()) {
      if (r.value("_Stream", std::string()) == dcr_stream) out.push_back(r);
    }
    return out;
  }

  // Delivered alert versions; `duplicates` counts rows delivered more than once. Rows that came through the
  // Data Collector API (legacy mode) carry type-suffixed names, as a classic custom table does, and their
  // Log-Type.
  std::multiset<Version> delivered(bool legacy = false) const {
    const char* id = legacy ? "AlertId_s" : "AlertId";
    const char* lmo = legacy ? "LastModifiedOn_t" : "LastModifiedOn";
    std::multiset<Version> out;
    for (const auto& r : sentinel->rows()) {
      if (legacy && r.value("_LogType", std::string()) != "FireEyeETPAlerts") continue;
      if (!legacy && r.contains("_Stream")) continue;  // the alerts' rows carry no _Stream
      out.insert({r[id], *parse_time(r[lmo].get<std::string>())});
    }
    return out;
  }

  // The environment of the legacy mode: the HTTP Data Collector API of the stand-in, signed with its key.
  std::map<std::string, std::string> legacy_env() const {
    std::ofstream(dir + "/shared.key") << sim::SentinelSimOptions{}.shared_key;
    return env({{"SENTINEL_MODE", "data-collector"},
                {"SENTINEL_WORKSPACE_ID", sim::SentinelSimOptions{}.workspace_id},
                {"SENTINEL_SHARED_KEY_FILE", dir + "/shared.key"},
                {"SENTINEL_DATA_COLLECTOR_URL", sentinel->base_url()}});
  }

  bool backfill_complete() const {
    Redis r(parse_redis_url(redis.url()).value());
    StateStore store(r);
    auto parts = store.partitions();
    if (!parts || parts.value().empty()) return false;
    for (const auto& p : parts.value()) {
      if (!lookup_queue_of(p.source).empty()) continue;  // the backfill does not wait for lookups
      if (p.live() ? p.caught_up_us == 0 : p.state != PartitionState::Done) return false;
    }
    return true;
  }
};

sim::EtpSimOptions sim_options(int alerts, int rate_limit) {
  sim::EtpSimOptions o;
  o.alerts = alerts;
  o.days = 7;
  o.rate_limit_per_min = rate_limit;
  o.late_percent = 0;
  return o;
}

void expect_exactly_once(const Stack& s, bool legacy = false) {
  auto truth = s.truth();
  auto got = s.delivered(legacy);
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), unique.size()) << "duplicates delivered";
  EXPECT_EQ(unique, truth);
  std::size_t missing = 0;
  for (const auto& v : truth) missing += unique.count(v) ? 0 : 1;
  EXPECT_EQ(missing, 0u);
}

// Prometheus' own linter over a /metrics scrape of the process listening on `port`.
void expect_promtool_accepts(int port, const std::string& dir, const std::string& name) {
  HttpClient http;
  auto r = http.send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics", {}, "", std::nullopt});
  ASSERT_TRUE(r.ok()) << name << ": no /metrics";
  EXPECT_NE(r->body.find("etp2s_build_info"), std::string::npos) << name;
  std::ofstream(dir + "/" + name + ".metrics") << r->body;
  std::string cmd =
      "promtool check metrics < " + dir + "/" + name + ".metrics > " + dir + "/" + name + ".promtool 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << name;
}

bool wait_until(const std::function<bool()>& f, std::chrono::seconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (f()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return f();
}

}  // namespace

TEST(EndToEnd, BackfillDeliversExactlyTheVendorsVersionsWithinTheBudget) {
  auto o = sim_options(5000, 60);
  o.latency_ms = 300;
  o.jitter_ms = 200;
  Stack s(o);
  s.etp->set_faults(
      {{"rate_5xx", 0.04}, {"rate_garbage", 0.02}, {"rate_drop", 0.02}, {"script", {"ok", "429"}}});
  auto p = s.start({"backfill"}, s.env(), "backfill.log");
  auto rc = p.wait_for(std::chrono::seconds(400));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  ASSERT_EQ(*rc, 0) << s.log("backfill.log").substr(0, 4000);
  expect_exactly_once(s);
  auto stats = s.etp->stats()["routes"]["/alerts"];
  EXPECT_LE(stats["max_in_60s"].get<int>(), 60) << stats.dump();
  EXPECT_GE(s.truth().size(), 5000u);
  for (const auto& r : s.rows_of()) ASSERT_FALSE(r["EtpMessageId"].get<std::string>().empty());
  std::cout << "[ e2e ] backfill: " << s.truth().size() << " versions, vendor saw " << stats.dump() << "\n";
}

// The legacy mode against a stand-in that behaves as the real Data Collector API: a post whose records carry
// TimeGenerated (or tenant, RawData) is refused as a whole, columns are stored type-suffixed, and
// TimeGenerated comes from the column the time-generated-field header names.
TEST(EndToEnd, LegacyDataCollectorModeDeliversEveryAlertExactlyOnce) {
  Stack s(sim_options(1000, 60));
  auto p = s.start({"backfill"}, s.legacy_env(), "legacy.log");
  auto rc = p.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  ASSERT_EQ(*rc, 0) << s.log("legacy.log").substr(0, 4000);
  auto stats = s.sentinel->stats();
  EXPECT_GT(stats["data_collector_calls"].get<int>(), 0) << stats.dump();
  EXPECT_EQ(stats["ingestion_calls"].get<int>(), 0) << stats.dump();
  EXPECT_FALSE(stats["by_status"].contains("400")) << stats.dump();
  EXPECT_FALSE(stats.contains("reserved_refused")) << stats.dump();
  expect_exactly_once(s, true);
  EXPECT_GE(s.truth().size(), 1000u);
  for (const auto& r : s.sentinel->rows()) {
    ASSERT_FALSE(r["EtpMessageId_s"].get<std::string>().empty()) << r.dump();
    const std::string type = r.value("_LogType", std::string());
    if (type != "FireEyeETPAlerts") {  // the lookups drained meanwhile, each to its own Log-Type
      EXPECT_TRUE(type == "FireEyeETPAlertDetails" || type == "FireEyeETPMessageTrace" ||
                  type == "FireEyeETPQuarantine")
          << type;
      continue;
    }
    ASSERT_EQ(parse_time(r["TimeGenerated"].get<std::string>()),
              parse_time(r["LastModifiedOn_t"].get<std::string>()))
        << "TimeGenerated is not the vendor time: " << r.dump();
  }
}

TEST(EndToEnd, RolesAsProcessesSurviveSigkillAtRandomPointsAndARedisRestart) {
  auto o = sim_options(3000, 100000);
  o.latency_ms = 150;
  o.jitter_ms = 100;
  Stack s(o);
  auto env = s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"},
                    {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                    {"ETP_PAGE_SIZE", "50"},
                    {"FETCHERS", "2"},
                    {"COORDINATOR_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())},
                    {"SHIPPER_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())}});
  std::map<std::string, Process> roles;
  std::map<std::string, int> metrics_port;
  int generation = 0;
  auto start = [&](const std::string& name) {
    std::string role = name.substr(0, name.find('-'));
    if (!metrics_port.count(name)) metrics_port[name] = free_port();
    auto role_env = env;
    role_env["METRICS_PORT"] = std::to_string(metrics_port[name]);
    role_env["METRICS_ADDRESS"] = "127.0.0.1";
    roles[name] = s.start({role}, role_env, name + "-" + std::to_string(++generation) + ".log");
  };
  for (const char* n : {"coordinator", "shipper", "fetcher-a", "fetcher-b"}) start(n);
  std::mt19937 rng(20261122);
  std::vector<std::string> victims{"fetcher-a", "shipper",   "coordinator", "fetcher-b",
                                   "shipper",   "fetcher-a", "redis"};
  for (const auto& v : victims) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500 + rng() % 2500));
    if (v == "redis") {
      s.redis.kill9();
      std::this_thread::sleep_for(std::chrono::milliseconds(800));
      s.redis.start();
      continue;
    }
    roles[v].kill(SIGKILL);
    roles[v].wait_for(std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + rng() % 1200));
    start(v);
  }
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(300)));
  // Wait for the last rows to arrive (a condition, not a fixed sleep), then stop everything gracefully.
  wait_until(
      [&] {
        auto got = s.delivered();
        return std::set<Version>(got.begin(), got.end()) == s.truth();
      },
      std::chrono::seconds(30));
  for (const auto& [name, port] : metrics_port) expect_promtool_accepts(port, s.dir, name);
  for (auto& [name, p] : roles) p.kill(SIGTERM);
  for (auto& [name, p] : roles) {
    auto rc = p.wait_for(std::chrono::seconds(30));
    EXPECT_TRUE(rc.has_value()) << name << " did not stop within 30 s of SIGTERM";
  }
  auto truth = s.truth();
  auto got = s.delivered();
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(unique, truth) << "an alert version was lost";
  std::size_t duplicates = got.size() - unique.size();
  // A shipper killed after Azure accepted a page but before its report was committed repeats that page.
  EXPECT_LE(duplicates, 2u * 50u) << "duplicates must stay within one page per shipper kill";
  std::cout << "[ e2e ] kill test: " << truth.size() << " versions, " << duplicates
            << " duplicate rows after " << victims.size() << " kills\n";
}

// The documented key rotation (docs/operations.md): an expired key stops the roles with `etp_auth`; a new key
// and recreated fetchers resume — the coordinator keeps running, the shipper is restarted (as compose
// restarts it) — and every alert arrives once.
TEST(EndToEnd, RotatingTheEtpKeyAndRecreatingTheFetchersResumesWithoutRestartingTheCoordinator) {
  Stack s(sim_options(600, 100000));
  std::ofstream(s.dir + "/old.key") << "an-expired-etp-key-0123456789";
  auto env = s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"},
                    {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                    {"METRICS_PORT", "0"},
                    {"COORDINATOR_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())},
                    {"SHIPPER_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())}});
  auto old_env = env;
  old_env["ETP_API_KEY_FILE"] = s.dir + "/old.key";
  Process coordinator = s.start({"coordinator"}, env, "coordinator.log");
  Process shipper = s.start({"shipper"}, env, "shipper-1.log");
  Process old_fetcher = s.start({"fetcher"}, old_env, "fetcher-old.log");
  auto rc = old_fetcher.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 3);
  Redis r(parse_redis_url(s.redis.url()).value());
  StateStore store(r);
  ASSERT_TRUE(store.fatal().has_value());
  EXPECT_EQ(store.fatal()->code, "etp_auth");
  rc = shipper.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(rc.has_value()) << "the shipper must stop on a fatal error recorded elsewhere";

  // Rotated: the fetcher recreated with the new key clears the refusal of the old one and resumes.
  Process fetcher = s.start({"fetcher"}, env, "fetcher-new.log");
  ASSERT_TRUE(wait_until(
      [&] {
        return s.log("fetcher-new.log").find("fetcher.cleared_fatal_after_credential_change") !=
               std::string::npos;
      },
      std::chrono::seconds(30)))
      << s.log("fetcher-new.log").substr(0, 3000);
  Process shipper2 = s.start({"shipper"}, env, "shipper-2.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("fetcher-new.log").substr(0, 3000);
  wait_until(
      [&] {
        auto got = s.delivered();
        return std::set<Version>(got.begin(), got.end()) == s.truth();
      },
      std::chrono::seconds(30));
  EXPECT_FALSE(coordinator.wait_for(std::chrono::seconds(0)).has_value())
      << "the coordinator was not restarted";
  EXPECT_FALSE(store.fatal().has_value());
  for (Process* p : {&coordinator, &shipper2, &fetcher}) p->kill(SIGTERM);
  for (Process* p : {&coordinator, &shipper2, &fetcher}) EXPECT_TRUE(p->wait_for(std::chrono::seconds(30)));
  expect_exactly_once(s);
  for (const char* log :
       {"coordinator.log", "shipper-1.log", "fetcher-old.log", "fetcher-new.log", "shipper-2.log"})
    EXPECT_EQ(s.log(log).find("an-expired-etp-key"), std::string::npos) << log;
}

// A burst in steady state: the held-back poll's first page comes back full, so it reads on from the head
// (after delivering that page) and the next polls read from the head with sweeps. Every alert arrives, once.
TEST(EndToEnd, ABurstBiggerThanAPageInSteadyStateArrivesOnceWithoutHoldingBack) {
  auto o = sim_options(50, 100000);
  o.days = 1;
  Stack s(o);
  auto p = s.start({"run"},
                   s.env({{"ETP_BACKFILL_DAYS", "1"},
                          {"FETCHERS", "2"},
                          {"ETP_RATE_LIMIT_PER_MIN", "600"},
                          {"ETP_RATE_LIMIT_OVERRIDE", "1"}}),
                   "run.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("run.log").substr(0, 3000);
  // 450 alerts within a few seconds, a few on each millisecond: more than two pages of the overlap.
  for (int i = 0; i < 90; ++i) {
    s.etp->add_alerts({{"count", 5}, {"traffic_type", "inbound"}});
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
  }
  // A late one behind the burst: caught by the sweeps that replace the hold-back.
  s.etp->add_alerts({{"count", 1}, {"traffic_type", "inbound"}, {"late_s", 5}});
  bool all = wait_until(
      [&] {
        auto got = s.delivered();
        auto truth = s.truth();
        return std::includes(got.begin(), got.end(), truth.begin(), truth.end());
      },
      std::chrono::seconds(120));
  p.kill(SIGTERM);
  auto rc = p.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(all) << s.delivered().size() << " of " << s.truth().size();
  auto got = s.delivered();
  EXPECT_EQ(got.size(), std::set<Version>(got.begin(), got.end()).size()) << "an alert version twice";
  EXPECT_GE(got.size(), 500u);
  EXPECT_NE(s.log("run.log").find("fetcher.overlap_outgrew_a_page"), std::string::npos)
      << "the burst never outgrew the held-back page";
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
}

TEST(EndToEnd, SteadyStateCatchesNewModifiedAndLateAlertsWithinSeconds) {
  auto o = sim_options(300, 60);
  o.days = 1;
  Stack s(o);
  auto p = s.start({"run"}, s.env({{"ETP_BACKFILL_DAYS", "1"}, {"FETCHERS", "2"}, {"ETP_OVERLAP_S", "120"}}),
                   "run.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("run.log").substr(0, 3000);
  std::map<std::string, Micros> visible;  // version key (id|lmo) -> visible at
  auto note = [&](const nlohmann::json& added) {
    for (const auto& a : added["alerts"]) {
      visible[a["id"].get<std::string>() + "|" +
              std::to_string(*parse_time(a["last_modified_on"].get<std::string>()))] =
          *parse_time(a["visible_at"].get<std::string>());
    }
  };
  std::vector<std::string> existing, modified;
  for (const auto& t : s.etp->truth()) existing.push_back(t["id"]);
  for (int round = 0; round < 6; ++round) {
    note(s.etp->add_alerts({{"count", 2}, {"traffic_type", "inbound"}}));
    note(s.etp->add_alerts({{"count", 1}, {"traffic_type", "outbound"}}));
    note(s.etp->add_alerts(
        {{"count", 1}, {"traffic_type", "inbound"}, {"late_s", 15}}));  // visible only later
    modified.push_back(existing[static_cast<std::size_t>(round) * 7]);
    auto m = s.etp->modify_alert({{"id", modified.back()}, {"status", "released"}});
    Micros lmo = *parse_time(m["last_modified_on"].get<std::string>());
    visible[m["id"].get<std::string>() + "|" + std::to_string(lmo)] = lmo;
    std::this_thread::sleep_for(std::chrono::seconds(3));
  }
  auto arrived = [&] {
    std::map<std::string, Micros> at;
    for (const auto& r : s.rows_of()) {
      at[r["AlertId"].get<std::string>() + "|" +
         std::to_string(*parse_time(r["LastModifiedOn"].get<std::string>()))] =
          *parse_time(r["_ReceivedAt"].get<std::string>());
    }
    return at;
  };
  bool all = wait_until(
      [&] {
        auto at = arrived();
        for (const auto& [k, v] : visible) {
          if (!at.count(k)) return false;
        }
        return true;
      },
      std::chrono::seconds(120));
  auto at = arrived();
  std::vector<double> latency;
  for (const auto& [k, v] : visible) {
    EXPECT_TRUE(at.count(k)) << "never delivered: " << k;
    if (at.count(k)) latency.push_back(static_cast<double>(at[k] - v) / kMicrosPerSecond);
  }
  ASSERT_TRUE(all);
  // Everything current at the vendor arrived once; the only extra rows are the versions before a
  // modification.
  auto got = s.delivered();
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), unique.size()) << "duplicates delivered";
  for (const auto& v : s.truth()) EXPECT_TRUE(unique.count(v)) << "missing " << v.first;
  std::size_t superseded = 0;
  for (const auto& v : unique) {
    if (s.truth().count(v)) continue;
    ++superseded;
    EXPECT_TRUE(std::find(modified.begin(), modified.end(), v.first) != modified.end())
        << "unexpected row " << v.first;
  }
  EXPECT_EQ(superseded, modified.size());
  std::sort(latency.begin(), latency.end());
  auto pct = [&](double q) {
    return latency[static_cast<std::size_t>(q * static_cast<double>(latency.size() - 1))];
  };
  std::cout << "[ e2e ] steady state: " << latency.size() << " new versions, visibility->delivery p50 "
            << pct(0.5) << " s, p99 " << pct(0.99) << " s, max " << latency.back() << " s\n";
  p.kill(SIGTERM);
  auto rc = p.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(rc.has_value()) << "run did not stop within 30 s of SIGTERM";
  EXPECT_EQ(*rc, 0);
}

TEST(EndToEnd, AnEtpCredentialFailureStopsCleanlyWithAMessage) {
  Stack s(sim_options(200, 60));
  std::ofstream(s.dir + "/bad.key") << "definitely-not-the-key";
  auto env = s.env();
  env["ETP_API_KEY_FILE"] = s.dir + "/bad.key";
  auto p = s.start({"backfill"}, env, "badkey.log");
  auto rc = p.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 3);
  std::string log = s.log("badkey.log");
  EXPECT_NE(log.find("check ETP_API_KEY"), std::string::npos) << log.substr(0, 2000);
  EXPECT_NE(log.find("stopped: etp_auth: "), std::string::npos) << "the code a runbook acts on";
  EXPECT_EQ(log.find("definitely-not-the-key"), std::string::npos) << "the key leaked into the log";
  EXPECT_EQ(s.sentinel->stats()["rows_accepted"], 0);
}

// Whether `t` (a version of `traffic`) lies in a range given up as unreadable (a gap `from/to`).
bool in_a_given_up_range(const std::vector<GapRecord>& gaps, const std::string& traffic, Micros t) {
  for (const auto& g : gaps) {
    auto slash = g.at.find('/');
    if (g.partition.rfind(traffic, 0) != 0 || slash == std::string::npos) continue;
    auto from = parse_time(g.at.substr(0, slash)), to = parse_time(g.at.substr(slash + 1));
    if (from && to && t >= *from && t < *to) return true;
  }
  return false;
}

// A record the vendor cannot serialise makes every page holding it unreadable (HTTP 200, a cut-off body),
// however often it is asked. The page is narrowed (the records before the bad one are read), then a range
// past the cursor is given up in growing steps and recorded: `backfill` exits 4 naming it, nothing outside
// the recorded ranges is lost, nothing arrives twice, and the backfill does not retry forever. Once the
// vendor serves the record again, `retry-gaps` and a backfill fill the hole.
TEST(EndToEnd, APageThatNeverReadsIsNarrowedThenGivenUpAsARecordedGapAndBackfillExitsFour) {
  Stack s(sim_options(400, 600));
  std::vector<nlohmann::json> inbound;
  for (const auto& t : s.etp->truth())
    if (t["traffic_type"] == "inbound") inbound.push_back(t);
  std::sort(inbound.begin(), inbound.end(), [](const auto& a, const auto& b) {
    return a["last_modified_on"].template get<std::string>() <
           b["last_modified_on"].template get<std::string>();
  });
  const auto bad = inbound[inbound.size() / 2];
  s.etp->set_faults({{"poison", {bad["id"]}}});
  auto p = s.start({"backfill"},
                   s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"},
                          {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                          {"ETP_UNREADABLE_PAGE_ATTEMPTS", "2"}}),
                   "poison.log");
  auto rc = p.wait_for(std::chrono::seconds(240));
  ASSERT_TRUE(rc.has_value()) << "the backfill retried an unreadable page forever";
  EXPECT_EQ(*rc, 4) << s.log("poison.log").substr(0, 3000);
  std::string log = s.log("poison.log");
  EXPECT_NE(log.find("fetcher.unreadable_page_narrowed"), std::string::npos);
  EXPECT_NE(log.find("fetcher.gap"), std::string::npos);

  Redis r(parse_redis_url(s.redis.url()).value());
  auto gaps = StateStore(r).gaps();
  ASSERT_TRUE(gaps.ok());
  ASSERT_FALSE(gaps->empty());
  auto in_gap = [&](const std::string& traffic, Micros t) {
    return in_a_given_up_range(gaps.value(), traffic, t);
  };
  Micros bad_t = *parse_time(bad["last_modified_on"].get<std::string>());
  EXPECT_TRUE(in_gap("inbound", bad_t)) << "the unreadable record lies in a recorded range";

  auto got = s.delivered();
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(unique.size(), got.size()) << "duplicates";
  std::size_t given_up = 0;
  for (const auto& t : s.etp->truth()) {
    Micros at = *parse_time(t["last_modified_on"].get<std::string>());
    if (in_gap(t["traffic_type"], at)) {
      ++given_up;
      continue;
    }
    EXPECT_TRUE(unique.count({t["id"], at})) << "lost outside every recorded range: " << t.dump();
  }
  EXPECT_LE(given_up, 3u) << "the ranges given up stay close to the unreadable record";
  EXPECT_EQ(unique.count({bad["id"], bad_t}), 0u);

  // The vendor fixes the record. `retry-gaps` queues every recorded range as a partition of its own and takes
  // it off the gap list; the next backfill reads them: everything has arrived, once, and it exits 0.
  s.etp->set_faults({{"poison", nlohmann::json::array()}});
  const auto env = s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
  auto retry = s.start({"retry-gaps"}, env, "retry-gaps.out");
  auto retry_rc = retry.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(retry_rc.has_value());
  EXPECT_EQ(*retry_rc, 0) << s.log("retry-gaps.out");
  EXPECT_NE(s.log("retry-gaps.out").find("queued: "), std::string::npos) << s.log("retry-gaps.out");
  EXPECT_TRUE(StateStore(r).gaps()->empty());
  auto again = s.start({"backfill"}, env, "after-retry.log");
  auto again_rc = again.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(again_rc.has_value());
  EXPECT_EQ(*again_rc, 0) << s.log("after-retry.log").substr(0, 3000);
  expect_exactly_once(s);
}

// Runs argv with stdin, stdout and stderr on a pseudo-terminal (what a person at a terminal has) and returns
// the exit code and everything it wrote.
std::pair<std::optional<int>, std::string> run_on_a_terminal(std::vector<std::string> argv,
                                                             const std::map<std::string, std::string>& env,
                                                             std::chrono::seconds limit) {
  int master = -1, slave = -1;
  winsize size{40, 160, 0, 0};
  if (openpty(&master, &slave, nullptr, nullptr, &size) != 0) return {std::nullopt, "openpty failed"};
  ChildArgs child(std::move(argv), env);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  for (int fd : {0, 1, 2}) posix_spawn_file_actions_adddup2(&fa, slave, fd);
  posix_spawn_file_actions_addclose(&fa, master);
  posix_spawn_file_actions_addclose(&fa, slave);
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, child.av[0], &fa, nullptr, child.av.data(), child.ev.data());
  posix_spawn_file_actions_destroy(&fa);
  close(slave);
  if (spawned != 0) {
    close(master);
    return {std::nullopt, "spawn failed"};
  }
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  std::optional<int> rc;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 200) > 0) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
      if (n > 0) continue;
    }
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
  }
  if (!rc) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  close(master);
  return {rc, out};
}

// A person at a terminal sees a live view redrawn in place — a share done, a rate, the budget, an ETA — and
// readable lines; the same backfill into a pipe or file writes one JSON object a line.
TEST(EndToEnd, BackfillShowsALiveViewOnATerminalAndJsonLinesOnAPipe) {
  Stack s(sim_options(3000, 100000));
  auto env = s.env({{"ETP_RATE_LIMIT_PER_MIN", "90"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
  auto [rc, out] =
      run_on_a_terminal({binary("app/etp2sentinel"), "backfill"}, env, std::chrono::seconds(180));
  ASSERT_TRUE(rc.has_value()) << out.substr(0, 3000);
  EXPECT_EQ(*rc, 0) << out.substr(0, 3000);
  EXPECT_NE(out.find("% done"), std::string::npos) << out.substr(0, 3000);
  EXPECT_NE(out.find("rows/s"), std::string::npos);
  EXPECT_NE(out.find("ETA "), std::string::npos) << "an ETA while the backfill runs";
  EXPECT_NE(out.find("req/min"), std::string::npos) << "the budget in use";
  EXPECT_NE(out.find("\x1b["), std::string::npos) << "redrawn in place";
  EXPECT_NE(out.find(" INFO coordinator.planned"), std::string::npos) << "readable lines";
  EXPECT_EQ(out.find("{\"ts\""), std::string::npos) << "no JSON lines on a terminal";
  expect_exactly_once(s);
  // `status` at a terminal: a table; `--json` (and any pipe): the document.
  auto [src, table] =
      run_on_a_terminal({binary("app/etp2sentinel"), "status"}, env, std::chrono::seconds(30));
  EXPECT_EQ(src, 0);
  EXPECT_NE(table.find("PARTITION"), std::string::npos) << table;
  EXPECT_NE(table.find("100.0%"), std::string::npos) << table;
  EXPECT_NE(table.find("rates: not measured"), std::string::npos) << "the backfill's coordinator has stopped";
  auto [jrc, doc] =
      run_on_a_terminal({binary("app/etp2sentinel"), "status", "--json"}, env, std::chrono::seconds(30));
  EXPECT_EQ(jrc, 0);
  EXPECT_NE(doc.find("\"partitions\""), std::string::npos) << doc;

  // Into a file (what compose and Azure collect): JSON lines, unless LOG_FORMAT=text asks otherwise.
  Stack t(sim_options(200, 100000));
  auto p = t.start({"backfill"}, t.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}}),
                   "pipe.log");
  ASSERT_TRUE(p.wait_for(std::chrono::seconds(90)).has_value());
  std::istringstream lines(t.log("pipe.log"));
  std::string line;
  int json_lines = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // the final summary and exit lines are not log events
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
    ++json_lines;
  }
  EXPECT_GT(json_lines, 3);
  EXPECT_EQ(t.log("pipe.log").find("% done"), std::string::npos);
}

// In steady state the head poll is held back by the overlap: an unreadable record inside the overlap must not
// be given up again and again (it was read past before) nor stop the polls. The held-back read falls back to
// reading from the head, whose range past the record is given up once (recorded); polling goes on, the gap
// list stops growing, and what arrives later is delivered.
TEST(EndToEnd, AnUnreadableRecordInSteadyStateIsGivenUpOnceAndPollingGoesOn) {
  auto o = sim_options(40, 100000);
  o.days = 1;
  Stack s(o);
  auto p = s.start({"run"},
                   s.env({{"ETP_BACKFILL_DAYS", "1"},
                          {"ETP_TRAFFIC_TYPES", "inbound"},
                          {"ETP_UNREADABLE_PAGE_ATTEMPTS", "2"},
                          {"ETP_RATE_LIMIT_PER_MIN", "600"},
                          {"ETP_RATE_LIMIT_OVERRIDE", "1"}}),
                   "run.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("run.log").substr(0, 3000);
  auto bad = s.etp->add_alerts({{"count", 1}, {"traffic_type", "inbound"}})["alerts"][0];
  s.etp->set_faults({{"poison", {bad["id"]}}});
  std::this_thread::sleep_for(std::chrono::seconds(2));
  s.etp->add_alerts({{"count", 3}, {"traffic_type", "inbound"}});
  Redis r(parse_redis_url(s.redis.url()).value());
  StateStore store(r);
  // Every version delivered or inside a recorded range (`only_delivered`: delivered, none in a range).
  auto accounted_for = [&](const std::set<std::string>& only_delivered) {
    auto got = s.delivered();
    std::set<Version> have(got.begin(), got.end());
    auto gaps = store.gaps();
    if (!gaps) return false;
    for (const auto& t : s.etp->truth()) {
      if (t["traffic_type"] != "inbound") continue;  // not configured
      Version v{t["id"], *parse_time(t["last_modified_on"].get<std::string>())};
      if (have.count(v)) continue;
      if (only_delivered.count(v.first) || !in_a_given_up_range(gaps.value(), "inbound", v.second))
        return false;
    }
    return true;
  };
  bool settled = wait_until([&] { return store.gap_count().value_or(0) > 0 && accounted_for({}); },
                            std::chrono::seconds(90));
  auto gaps_then = store.gap_count().value_or(-1);
  std::this_thread::sleep_for(std::chrono::seconds(15));  // about 15 more polls, held back over the record
  auto gaps_later = store.gap_count().value_or(-1);
  std::set<std::string> later;
  auto added = s.etp->add_alerts({{"count", 2}, {"traffic_type", "inbound"}});
  for (const auto& a : added["alerts"]) later.insert(a["id"].get<std::string>());
  bool later_arrived = wait_until([&] { return accounted_for(later); }, std::chrono::seconds(60));
  p.kill(SIGTERM);
  auto rc = p.wait_for(std::chrono::seconds(30));
  auto missing = [&] {
    auto got = s.delivered();
    std::set<Version> have(got.begin(), got.end());
    std::string out;
    for (const auto& t : s.etp->truth())
      if (t["traffic_type"] == "inbound" &&
          !have.count({t["id"], *parse_time(t["last_modified_on"].get<std::string>())}))
        out += t.dump() + "\n";
    auto gaps = store.gaps();
    if (gaps.ok())
      for (const auto& g : gaps.value()) out += "gap " + g.partition + " " + g.at + "\n";
    return out;
  };
  EXPECT_TRUE(settled) << "the unreadable record was not given up as a recorded range\n" << missing();
  EXPECT_TRUE(in_a_given_up_range(store.gaps().value(), "inbound",
                                  *parse_time(bad["last_modified_on"].get<std::string>())));
  EXPECT_EQ(gaps_later, gaps_then) << "the same record given up again and again";
  EXPECT_TRUE(later_arrived) << "polling stopped after the unreadable record";
  EXPECT_NE(s.log("run.log").find("fetcher.unreadable_in_reread"), std::string::npos);
  auto got = s.delivered();
  EXPECT_EQ(got.size(), std::set<Version>(got.begin(), got.end()).size()) << "an alert version twice";
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
}

// The operator's trap: a trial against the stand-in, then production on the same Redis. The state (plan,
// cursors, marks) belongs to one vendor and one plan: another is refused before any request, naming what
// differs; PLAN_ADOPT=1 takes over deliberately.
TEST(EndToEnd, AStateMadeForAnotherVendorOrWindowIsNotResumed) {
  Stack s(sim_options(200, 60));
  auto first = s.start({"backfill"}, s.env(), "first.log").wait_for(std::chrono::seconds(90));
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(*first, 0) << s.log("first.log").substr(0, 3000);

  EtpSim other(sim_options(50, 60));
  auto p = s.start({"backfill"}, s.env({{"ETP_BASE_URL", other.base_url()}}), "other.log");
  auto rc = p.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  std::string log = s.log("other.log");
  EXPECT_NE(log.find("state.made_for_another_configuration"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("vendor: stored"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("PLAN_ADOPT=1"), std::string::npos) << "says how to resolve it";
  EXPECT_TRUE(other.stats()["routes"].empty()) << "refused before any request: " << other.stats().dump();

  auto wider = s.start({"backfill"}, s.env({{"ETP_BACKFILL_DAYS", "30"}}), "wider.log");
  rc = wider.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 2);
  EXPECT_NE(s.log("wider.log").find("backfill_days: stored 7, now 30"), std::string::npos)
      << s.log("wider.log").substr(0, 3000);

  // Deliberately: adopted, and the wider window's plan goes on (a rotated key alone:
  // tests/pipeline/state_test).
  auto again = s.start({"backfill"}, s.env({{"PLAN_ADOPT", "1"}, {"ETP_BACKFILL_DAYS", "30"}}), "adopt.log");
  rc = again.wait_for(std::chrono::seconds(90));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << s.log("adopt.log").substr(0, 3000);
  EXPECT_NE(s.log("adopt.log").find("state.adopted"), std::string::npos);
  expect_exactly_once(s);
}

TEST(EndToEnd, ASentinel403StopsCleanlyAndCommitsNothingUndelivered) {
  Stack s(sim_options(400, 600));
  s.sentinel->set_faults({{"forbid", true}});
  auto p = s.start({"backfill"}, s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}}),
                   "forbidden.log");
  auto rc = p.wait_for(std::chrono::seconds(60));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 3);
  EXPECT_NE(s.log("forbidden.log").find("Monitoring Metrics Publisher"), std::string::npos);
  EXPECT_NE(s.log("forbidden.log").find("stopped: sentinel_auth: "), std::string::npos);
  Redis r(parse_redis_url(s.redis.url()).value());
  StateStore store(r);
  auto parts = store.partitions();
  ASSERT_TRUE(parts.ok());
  for (const auto& part : parts.value()) {
    if (part.source != "alerts-v1") continue;  // lookups and the quarantine keep cursors of their own
    EXPECT_EQ(part.delivered, 0) << part.id;
    EXPECT_EQ(part.cursor, format_vendor(part.start_us))
        << part.id << ": cursor moved past undelivered alerts";
  }
  // Fixed and restarted: everything arrives, once.
  s.sentinel->set_faults({{"forbid", false}});
  auto again =
      s.start({"backfill"}, s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}}),
              "fixed.log");
  auto rc2 = again.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc2.has_value());
  EXPECT_EQ(*rc2, 0) << s.log("fixed.log").substr(0, 3000);
  expect_exactly_once(s);
}

TEST(EndToEnd, ABackfillThatSkippedAStuckInstantExitsFourNamingTheInstant) {
  auto o = sim_options(400, 600);
  o.tie_burst = 250;     // 250 inbound alerts share one last_modified_on: 50 more than the largest page
  o.tie_uniform = true;  // ... and one status and one alert type: no v1 filter can split them
  Stack s(o);
  std::map<Micros, int> per_instant;
  for (const auto& v : s.truth()) ++per_instant[v.second];
  Micros tie = 0;
  for (const auto& [t, n] : per_instant) {
    if (n >= 250) tie = t;
  }
  ASSERT_NE(tie, 0) << "the stand-in made no burst";
  auto env = s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}, {"FETCHERS", "2"}});
  auto p = s.start({"backfill"}, env, "gap.log");
  auto rc = p.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  std::string log = s.log("gap.log");
  EXPECT_EQ(*rc, 4) << log.substr(0, 3000);
  EXPECT_NE(log.find("gap: partition inbound-"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find(" at " + format_vendor(tie) + " (200 alerts seen"), std::string::npos)
      << log.substr(0, 3000);
  EXPECT_NE(log.find("\"gaps\":1"), std::string::npos) << log.substr(0, 3000);
  // Everything else arrived, once: only the 50 alerts beyond the vendor's page at that instant are missing.
  auto truth = s.truth();
  auto got = s.delivered();
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(got.size(), unique.size()) << "duplicates delivered";
  std::size_t missing_elsewhere = 0, missing_at_tie = 0;
  for (const auto& v : truth) {
    if (unique.count(v)) continue;
    (v.second == tie ? missing_at_tie : missing_elsewhere) += 1;
  }
  EXPECT_EQ(missing_at_tie, 50u);
  EXPECT_EQ(missing_elsewhere, 0u);
  // `status` shows the gap and, with no fatal error recorded, exits 0 (`run` goes on).
  auto st = s.start({"status"}, env, "gap-status.log");
  EXPECT_EQ(st.wait_for(std::chrono::seconds(30)), 0) << s.log("gap-status.log");
  EXPECT_NE(s.log("gap-status.log").find("\"at\": \"" + format_vendor(tie) + "\""), std::string::npos)
      << s.log("gap-status.log");
  // Starting the same backfill again does not paper over the hole: the plan still has it.
  auto again = s.start({"backfill"}, env, "gap-again.log");
  EXPECT_EQ(again.wait_for(std::chrono::seconds(120)), 4) << s.log("gap-again.log").substr(0, 3000);
}

TEST(EndToEnd, StatusExitsNonZeroWhileAFatalErrorIsRecordedAndCountsGapsAndDeadLetters) {
  RedisServer redis;
  std::string dir = temp_dir("etp2s-status");
  const std::map<std::string, std::string> env{{"REDIS_URL", redis.url()}, {"LOG_LEVEL", "error"}};
  auto status = [&](const std::string& log) {
    Process p({binary("app/etp2sentinel"), "status"}, env, dir + "/" + log);
    auto rc = p.wait_for(std::chrono::seconds(30));
    std::ifstream in(dir + "/" + log);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::make_pair(rc, ss.str());
  };
  auto [rc0, out0] = status("empty.log");
  EXPECT_EQ(rc0, 0) << out0;
  EXPECT_NE(out0.find("\"entries\": 0"), std::string::npos) << out0;

  Redis r(parse_redis_url(redis.url()).value());
  StateStore store(r);
  ASSERT_TRUE(store.record_gap("inbound-03", "2026-05-06T07:08:09.010", 200));
  ASSERT_TRUE(store.record_gap("outbound-01", "2026-05-07T07:08:09.011", 200));
  ASSERT_TRUE(store.dead_letter("Custom-FireEyeETPAlerts_CL", "k1", "HTTP 413 even alone", "{}"));
  store.set_fatal(fatal_code::kSentinelAuth,
                  "Sentinel answered HTTP 403: the identity lacks Monitoring Metrics Publisher");
  auto [rc1, out1] = status("fatal.log");
  EXPECT_EQ(rc1, 3) << out1;
  EXPECT_NE(out1.find("Monitoring Metrics Publisher"), std::string::npos) << out1;
  auto json = nlohmann::json::parse(out1.substr(out1.find('{'), out1.rfind('}') - out1.find('{') + 1));
  EXPECT_EQ(json["fatal"]["code"], "sentinel_auth") << "the code an operator's runbook acts on";
  EXPECT_EQ(json["gaps"]["entries"], 2);
  ASSERT_EQ(json["gaps"]["newest"].size(), 2u);
  EXPECT_EQ(json["gaps"]["newest"][0]["at"], "2026-05-06T07:08:09.010");
  EXPECT_EQ(json["gaps"]["newest"][1]["partition"], "outbound-01");
  EXPECT_EQ(json["dead_letters"]["entries"], 1);
  EXPECT_EQ(json["dead_letters"]["dropped"]["over_cap"], 0);
  EXPECT_EQ(json["gaps"]["dropped"]["expired"], 0);

  // Fixed (a start clears the mark): healthy again, the gaps still shown.
  store.clear_fatal();
  auto [rc2, out2] = status("fixed.log");
  EXPECT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("\"entries\": 2"), std::string::npos) << out2;
}

TEST(EndToEnd, TheRedisPasswordIsReadFromAFile) {
  std::string dir = temp_dir("etp2s-redis-pw");
  const int port = free_port();
  Process redis({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind", "127.0.0.1", "--dir", dir,
                 "--save", "", "--requirepass", "redis-file-pw-0123456789"},
                {}, dir + "/redis.log");
  for (int i = 0; i < 200 && !port_open(port); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  std::ofstream(dir + "/redis_password") << "redis-file-pw-0123456789\n";
  const std::string url = "redis://127.0.0.1:" + std::to_string(port) + "/0";
  auto status = [&](std::map<std::string, std::string> env, const std::string& log) {
    env["LOG_LEVEL"] = "info";
    Process p({binary("app/etp2sentinel"), "status"}, env, dir + "/" + log);
    auto rc = p.wait_for(std::chrono::seconds(30));
    std::ifstream in(dir + "/" + log);
    std::stringstream ss;
    ss << in.rdbuf();
    return std::make_pair(rc, ss.str());
  };
  auto [refused_rc, refused] = status({{"REDIS_URL", url}}, "nopw.log");
  EXPECT_EQ(refused_rc, 1) << refused;
  auto [rc, out] = status({{"REDIS_URL", url}, {"REDIS_PASSWORD_FILE", dir + "/redis_password"}}, "pw.log");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("\"partitions\""), std::string::npos) << out;
  EXPECT_EQ(out.find("redis-file-pw-0123456789"), std::string::npos) << "the password was shown";
}

namespace {
// Sum of every sample of `name` whose labels contain `label` (e.g. route="alerts"), from a text exposition.
double metric_sum(const std::string& text, const std::string& name, const std::string& label = "") {
  double sum = 0;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0 ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    if (!label.empty() && line.find(label) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

std::string scrape(int port) {
  HttpClient http;
  auto r = http.send({"GET", "http://127.0.0.1:" + std::to_string(port) + "/metrics", {}, "", std::nullopt});
  return r ? r->body : std::string();
}
}  // namespace

TEST(EndToEnd, MetricsAgreeWithWhatTheStandInsSaw) {
  Stack s(sim_options(800, 600));
  int port = free_port();
  auto p = s.start({"run"},
                   s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"},
                          {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                          {"FETCHERS", "2"},
                          {"ETP_DETAILS", "off"},  // the alert stream's numbers alone
                          {"ETP_TRACE", "off"},
                          {"ETP_QUARANTINE", "off"},
                          {"METRICS_PORT", std::to_string(port)},
                          {"METRICS_ADDRESS", "127.0.0.1"}}),
                   "metrics.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("metrics.log");
  // Settled (conditions, not a fixed sleep): every version delivered and counted, the coordinator's gauges
  // published since completion (every progress ratio at 1), and the live partitions polled in steady state.
  auto settled = [&] {
    std::string m = scrape(port);
    double rows = s.sentinel->stats()["rows_accepted"].get<double>();
    std::istringstream in(m);
    std::string l;
    while (std::getline(in, l)) {
      if (l.rfind("etp2s_partition_progress_ratio{", 0) == 0 && std::stod(l.substr(l.rfind(' ') + 1)) < 0.99)
        return false;
    }
    return rows == static_cast<double>(s.truth().size()) &&
           metric_sum(m, "etp2s_shipper_rows_total", "outcome=\"delivered\"") == rows &&
           metric_sum(m, "etp2s_leases_total", "event=\"granted\"") >= 8;
  };
  wait_until(settled, std::chrono::seconds(30));
  std::string before = scrape(port);
  double sim_requests = s.etp->stats()["routes"]["/alerts"]["requests"].get<double>();
  double sim_rows = s.sentinel->stats()["rows_accepted"].get<double>();
  std::string after = scrape(port);
  ASSERT_FALSE(after.empty());
  // Requests: counted after each answer, so at most the requests in flight (one per fetcher) behind etp-sim.
  EXPECT_LE(metric_sum(before, "etp2s_etp_requests_total", "route=\"alerts\""), sim_requests);
  EXPECT_GE(metric_sum(after, "etp2s_etp_requests_total", "route=\"alerts\"") + 2, sim_requests);
  // Rows: nothing new is arriving at the vendor, so delivered rows are settled and must match exactly.
  EXPECT_EQ(metric_sum(after, "etp2s_shipper_rows_total", "outcome=\"delivered\""), sim_rows);
  EXPECT_EQ(sim_rows, static_cast<double>(s.truth().size()));
  EXPECT_EQ(metric_sum(after, "etp2s_alerts_fetched_total"), sim_rows);
  EXPECT_EQ(metric_sum(after, "etp2s_budget_limit", "route=\"alerts\""), 600);
  EXPECT_GE(metric_sum(after, "etp2s_leases_total", "event=\"granted\""), 8);
  {
    std::istringstream in(after);
    std::string l;
    int partitions = 0;
    while (std::getline(in, l)) {
      if (l.rfind("etp2s_partition_progress_ratio{", 0) != 0) continue;
      partitions += l.find('+') == std::string::npos ? 1 : 0;  // not counting pieces split off
      EXPECT_GE(std::stod(l.substr(l.rfind(' ') + 1)), 0.99) << l;
    }
    EXPECT_EQ(partitions, 4);  // 2 fetchers, 2 traffic types: 2 partitions each as planned
  }
  EXPECT_EQ(metric_sum(after, "etp2s_token_refreshes_total", "kind=\"azure\""), 1);
  EXPECT_EQ(metric_sum(after, "etp2s_fatal"), 0);
  EXPECT_NE(after.find("etp2s_build_info{version=\""), std::string::npos);
  // The process metrics, the last successes, Redis' health, and known label values at 0 from the start.
  EXPECT_GT(metric_sum(after, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(metric_sum(after, "process_open_fds"), 3);
  EXPECT_GT(metric_sum(after, "process_cpu_seconds_total"), 0);
  const double now_s = static_cast<double>(now_micros()) / kMicrosPerSecond;
  EXPECT_NEAR(metric_sum(after, "process_start_time_seconds"), now_s, 900);
  for (const char* what : {"what=\"poll\"", "what=\"commit\"", "what=\"delivery\""})
    EXPECT_NEAR(metric_sum(after, "etp2s_last_success_timestamp_seconds", what), now_s, 600) << what;
  EXPECT_EQ(metric_sum(after, "etp2s_redis_up"), 1);
  // Progress, lag, partitions, budget wait and errors by kind.
  EXPECT_EQ(metric_sum(after, "etp2s_backfill_progress_ratio", "stream=\"alerts-v1\""), 1);
  EXPECT_EQ(metric_sum(after, "etp2s_backfill_eta_seconds", "stream=\"alerts-v1\""), 0);
  EXPECT_LT(metric_sum(after, "etp2s_cursor_lag_seconds", "traffic_type=\"inbound\""), 60)
      << "caught up on a tenant with nothing new: seconds since the last poll";
  EXPECT_GE(metric_sum(after, "etp2s_partitions", "state=\"done\""), 2);
  EXPECT_EQ(metric_sum(after, "etp2s_partitions", "state=\"pending\""), 0);
  EXPECT_GT(metric_sum(after, "etp2s_budget_wait_seconds_total", "route=\"alerts\""), 0)
      << "two fetchers at 600 requests a minute wait for the spacing between permits";
  for (const char* kind : {"vendor", "vendor_token", "azure", "azure_token", "rejected_record"})
    EXPECT_NE(after.find(std::string("etp2s_errors_total{kind=\"") + kind + "\"}"), std::string::npos)
        << kind;
  EXPECT_GT(metric_sum(after, "etp2s_redis_ping_seconds"), 0);
  EXPECT_NE(after.find("etp2s_etp_requests_total{route=\"alerts\",status=\"401\"} 0"), std::string::npos);
  EXPECT_NE(after.find("etp2s_leases_total{event=\"expired\"} 0"), std::string::npos);
  // The gap list's length is a gauge, read from Redis: a gap recorded by anyone shows up within seconds.
  EXPECT_NE(after.find("etp2s_state_list_entries{list=\"gaps\"} 0"), std::string::npos);
  EXPECT_NE(after.find("etp2s_state_list_entries{list=\"dead_letters\"} 0"), std::string::npos);
  EXPECT_NE(after.find("etp2s_state_list_dropped_total{list=\"gaps\",reason=\"over_cap\"} 0"),
            std::string::npos);
  {
    Redis r(parse_redis_url(s.redis.url()).value());
    ASSERT_TRUE(StateStore(r).record_gap("inbound-00", "2026-01-01T00:00:00.000", 200));
  }
  EXPECT_TRUE(
      wait_until([&] { return metric_sum(scrape(port), "etp2s_state_list_entries", "list=\"gaps\"") == 1; },
                 std::chrono::seconds(15)));
  {
    // The exposition passes Prometheus' own linter.
    std::ofstream(s.dir + "/scrape.txt") << after;
    std::string cmd = "promtool check metrics < " + s.dir + "/scrape.txt > " + s.dir + "/promtool.txt 2>&1";
    int rc = std::system(cmd.c_str());
    EXPECT_EQ(rc, 0) << s.log("promtool.txt");
  }
  // The documented names are the exported names (README "Metrics").
  std::ifstream readme(std::string(ETP2S_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << readme.rdbuf();
  std::string doc = ss.str();
  std::set<std::string> exported;
  std::istringstream lines(after);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("# TYPE ", 0) == 0) exported.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  EXPECT_GE(exported.size(), 20u);
  for (const auto& name : exported)
    EXPECT_NE(doc.find("`" + name + "`"), std::string::npos) << name << " is not documented";
  p.kill(SIGTERM);
  EXPECT_EQ(p.wait_for(std::chrono::seconds(30)), 0);
}

// ---- Supporting data: alert details and the trace of every alerted message
// ----------------------------------

namespace {

const char* kDetailsStream = "Custom-FireEyeETPAlertDetails_CL";
const char* kTraceStream = "Custom-FireEyeETPMessageTrace_CL";
const char* kQuarantineStream = "Custom-FireEyeETPQuarantine_CL";

std::multiset<std::string> column_values(const std::vector<nlohmann::json>& rows, const char* column) {
  std::multiset<std::string> out;
  for (const auto& r : rows) out.insert(r.value(column, std::string()));
  return out;
}

std::set<std::string> truth_alert_ids(const Stack& s) {
  std::set<std::string> out;
  for (const auto& t : s.etp->truth()) out.insert(t["id"]);
  return out;
}

std::set<std::string> truth_messages(const Stack& s) {
  std::set<std::string> out;
  for (const auto& t : s.etp->message_truth()) out.insert(t["etp_message_id"]);
  return out;
}

std::set<std::string> truth_quarantine(const Stack& s) {
  std::set<std::string> out;
  for (const auto& t : s.etp->quarantine_truth()) out.insert(t["message_id"]);
  return out;
}

bool all_arrived(const Stack& s, bool quarantine = false) {
  auto d = column_values(s.rows_of(kDetailsStream), "AlertId");
  auto t = column_values(s.rows_of(kTraceStream), "EtpMessageId");
  auto q = column_values(s.rows_of(kQuarantineStream), "EtpMessageId");
  return std::set<std::string>(d.begin(), d.end()) == truth_alert_ids(s) &&
         std::set<std::string>(t.begin(), t.end()) == truth_messages(s) &&
         (!quarantine || std::set<std::string>(q.begin(), q.end()) == truth_quarantine(s));
}

void expect_route_within(const Stack& s, const std::string& route, std::size_t limit) {
  auto routes = s.etp->stats()["routes"];
  ASSERT_TRUE(routes.contains(route)) << route << " never called";
  EXPECT_LE(routes[route]["max_in_60s"].get<std::size_t>(), limit) << route;
  EXPECT_EQ(routes[route]["rate_limited"].get<std::size_t>(), 0u) << route;
}

nlohmann::json status_of(const Stack& s, std::map<std::string, std::string> env) {
  env["LOG_LEVEL"] = "error";
  std::remove((s.dir + "/status.out").c_str());  // Process appends: each call reads its own document only
  auto p = s.start({"status"}, env, "status.out");
  p.wait_for(std::chrono::seconds(20));
  auto text = s.log("status.out");
  auto start = text.find("{\n");  // the pretty-printed document (LOG_LEVEL=error: no log lines)
  auto j = nlohmann::json::parse(start == std::string::npos ? "" : text.substr(start), nullptr, false);
  return j;
}

}  // namespace

// The main case at the vendor's real limit: `backfill` delivers the alerts without waiting for the
// lookups and says how many wait; `run` drains them; every alert has its details and every alerted message
// its trace, once, joined on the message id, and no route ever saw more than 60 requests in a minute.
TEST(SupportingData, DetailsAndTraceOfEveryAlertArriveOnceWithinEachRoutesBudget) {
  auto o = sim_options(24, 60);
  o.days = 1;
  o.modified_percent = 0;
  Stack s(o);
  auto env = s.env({{"ETP_BACKFILL_DAYS", "1"},
                    {"FETCHERS", "2"},
                    {"ETP_DETAILS", "all"},
                    {"ETP_TRACE", "alerted"},
                    {"ETP_QUARANTINE", "on"}});
  auto backfill = s.start({"backfill"}, env, "backfill.log");
  auto rc = backfill.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value());
  ASSERT_EQ(*rc, 0) << s.log("backfill.log").substr(0, 3000);
  expect_exactly_once(s);
  auto out = s.log("backfill.log");
  EXPECT_NE(out.find("\"lookups_queued\""), std::string::npos) << "backfill says what stays queued";

  auto run = s.start({"run"}, env, "run.log");
  bool done = wait_until([&] { return all_arrived(s, true); }, std::chrono::seconds(300));
  // A looked-up entry leaves its queue when the fetcher commits, a moment after its row reached Sentinel.
  nlohmann::json st;
  wait_until(
      [&] {
        st = status_of(s, env);
        if (!st.is_object()) return false;
        for (const auto& q : st["lookups"])
          if (q["waiting"] != 0) return false;
        return true;
      },
      std::chrono::seconds(30));
  expect_exactly_once(s);  // (before the release below makes a new alert version)
  const std::size_t details_before = s.rows_of(kDetailsStream).size();
  const std::size_t trace_before = s.rows_of(kTraceStream).size();
  // A quarantined message is released at the vendor: its quarantine time does not change, and the release
  // arrives as a new version (the live partition's sweep).
  std::map<std::string, int> alerts_of;
  for (const auto& t : s.etp->truth()) ++alerts_of[t["etp_message_id"]];
  std::string released_msg, released_alert;
  for (const auto& q : s.etp->quarantine_truth()) {
    if (q["released"] == false && alerts_of[q["message_id"]] == 1) released_msg = q["message_id"];
  }
  for (const auto& t : s.etp->truth()) {
    if (t["etp_message_id"] == released_msg) released_alert = t["id"];
  }
  std::size_t quarantined_before = truth_quarantine(s).size();
  bool release_arrived = false;
  if (!released_alert.empty()) {
    s.etp->modify_alert({{"id", released_alert}, {"status", "released"}});
    release_arrived = wait_until(
        [&] {
          for (const auto& r : s.rows_of(kQuarantineStream)) {
            if (r["EtpMessageId"] == released_msg && r["IsReleased"] == true) return true;
          }
          return false;
        },
        std::chrono::seconds(90));
  }
  run.kill(SIGTERM);
  auto run_rc = run.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(done) << "details " << s.rows_of(kDetailsStream).size() << "/" << truth_alert_ids(s).size()
                    << ", trace " << s.rows_of(kTraceStream).size() << "/" << truth_messages(s).size();
  ASSERT_TRUE(run_rc.has_value());
  EXPECT_EQ(*run_rc, 0);

  auto details = s.rows_of(kDetailsStream);
  auto trace = s.rows_of(kTraceStream);
  EXPECT_EQ(details_before, truth_alert_ids(s).size()) << "a details row twice";
  EXPECT_EQ(trace_before, truth_messages(s).size()) << "a trace row twice";
  // The release made a new alert version and a new message version: looked up again, each once.
  std::set<std::pair<std::string, std::string>> details_versions, trace_versions;
  for (const auto& d : details)
    details_versions.emplace(d["AlertId"].get<std::string>(), d["LastModifiedOn"].get<std::string>());
  for (const auto& t : trace)
    trace_versions.emplace(t["EtpMessageId"].get<std::string>(),
                           t["LastModifiedDateTime"].get<std::string>());
  EXPECT_EQ(details_versions.size(), details.size()) << "a details version twice";
  EXPECT_EQ(trace_versions.size(), trace.size()) << "a trace version twice";
  // The message id joins: every details row names its alert's message, every trace row an alerted message.
  std::map<std::string, std::string> message_of;
  for (const auto& t : s.etp->truth()) message_of[t["id"]] = t["etp_message_id"];
  for (const auto& d : details) {
    EXPECT_EQ(d["EtpMessageId"], message_of[d["AlertId"]]);
    EXPECT_FALSE(d["Severity"].get<std::string>().empty());
    EXPECT_FALSE(d["Md5"].empty());
  }
  ASSERT_FALSE(released_alert.empty()) << "the stand-in has no quarantined message to release";
  EXPECT_TRUE(release_arrived) << "the release of " << released_msg << " never arrived";
  // Quarantine: every quarantined message once, plus the released version of the one released.
  EXPECT_EQ(s.rows_of(kQuarantineStream).size(), quarantined_before + 1);
  expect_route_within(s, "/alerts", 60);
  expect_route_within(s, "/trace", 60);
  expect_route_within(s, "/quarantine", 60);
  auto alerts = s.delivered();
  EXPECT_EQ(alerts.size(), std::set<Version>(alerts.begin(), alerts.end()).size())
      << "an alert version twice";
  ASSERT_TRUE(st.is_object()) << s.log("status.out");
  for (const auto& q : st["lookups"]) {
    EXPECT_EQ(q["waiting"], 0) << q.dump();
    EXPECT_GT(q["drained_per_min"].get<double>(), 0) << q.dump();
  }
}

// ETP_TRACE=all: the whole trace stream (every message, alerted or not), switched on after a first backfill,
// is backfilled over the window, then followed in steady state: a new message and a status change (a new
// version) arrive; every message version exactly once, each route within 60 requests a minute, the details
// still looked up for every alert.
TEST(SupportingData, TheWholeTraceStreamIsBackfilledAndFollowedAtTheRealLimit) {
  auto o = sim_options(24, 60);
  o.days = 1;
  o.modified_percent = 0;
  o.clean_messages = 400;  // more than one 300-record page per partition
  Stack s(o);
  auto env = s.env({{"ETP_BACKFILL_DAYS", "1"},
                    {"FETCHERS", "2"},
                    {"ETP_DETAILS", "all"},
                    {"ETP_TRACE", "all"},
                    {"ETP_QUARANTINE", "on"}});
  auto versions = [](const std::vector<nlohmann::json>& rows) {
    std::multiset<std::string> out;
    for (const auto& r : rows)
      out.insert(r["TrafficType"].get<std::string>() + "|" + r["EtpMessageId"].get<std::string>() + "|" +
                 r["LastModifiedDateTime"].get<std::string>());
    return out;
  };
  auto truth = [&] {
    std::set<std::string> out;
    for (const auto& t : s.etp->trace_all_truth())
      out.insert(t["traffic_type"].get<std::string>() + "|" + t["etp_message_id"].get<std::string>() + "|" +
                 t["last_modified"].get<std::string>() + "Z");
    return out;
  };
  // First without the trace: the plan is made without it. Switched on afterwards, the trace gets its own
  // partitions over the window (a configured stream is never silently left unread).
  auto without = env;
  without["ETP_TRACE"] = "off";
  auto first = s.start({"backfill"}, without, "backfill-without-trace.log");
  auto first_rc = first.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(first_rc.has_value());
  ASSERT_EQ(*first_rc, 0) << s.log("backfill-without-trace.log").substr(0, 3000);
  ASSERT_TRUE(s.rows_of(kTraceStream).empty());
  auto backfill = s.start({"backfill"}, env, "backfill.log");
  auto rc = backfill.wait_for(std::chrono::seconds(180));
  ASSERT_TRUE(rc.has_value());
  ASSERT_EQ(*rc, 0) << s.log("backfill.log").substr(0, 3000);
  EXPECT_NE(s.log("backfill.log").find("coordinator.sources_added"), std::string::npos);
  auto after_backfill = versions(s.rows_of(kTraceStream));
  EXPECT_EQ(std::set<std::string>(after_backfill.begin(), after_backfill.end()), truth())
      << "backfill waits for the paged trace stream";
  EXPECT_EQ(after_backfill.size(), truth().size()) << "a message version twice";
  for (const auto& r : s.rows_of(kTraceStream)) EXPECT_EQ(r["TraceSource"], "trace");

  auto run = s.start({"run"}, env, "run.log");
  // In steady state: a new alerted message, and an old message whose status changes (a new version).
  std::string changed_alert, changed_msg;
  for (const auto& t : s.etp->message_truth()) {
    if (t["traffic_type"] == "inbound" && changed_msg.empty()) changed_msg = t["etp_message_id"];
  }
  for (const auto& t : s.etp->truth()) {
    if (t["etp_message_id"] == changed_msg && changed_alert.empty()) changed_alert = t["id"];
  }
  ASSERT_FALSE(changed_alert.empty());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  s.etp->add_alerts({{"count", 1}, {"traffic_type", "outbound"}});
  s.etp->modify_alert({{"id", changed_alert}, {"status", "released"}});
  auto expected = truth();
  bool arrived = wait_until(
      [&] {
        auto got = versions(s.rows_of(kTraceStream));
        // Every alert's details, by id (a count would pass on a second version of one alert's details while
        // another alert's are still on their way).
        auto d = column_values(s.rows_of(kDetailsStream), "AlertId");
        return std::includes(got.begin(), got.end(), expected.begin(), expected.end()) &&
               std::set<std::string>(d.begin(), d.end()) == truth_alert_ids(s);
      },
      std::chrono::seconds(180));
  run.kill(SIGTERM);
  auto run_rc = run.wait_for(std::chrono::seconds(30));
  auto got = versions(s.rows_of(kTraceStream));
  ASSERT_TRUE(arrived) << got.size() << " trace rows, " << expected.size() << " versions expected";
  ASSERT_TRUE(run_rc.has_value());
  EXPECT_EQ(*run_rc, 0);
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()).size(), got.size()) << "a message version twice";
  EXPECT_EQ(got.size(), expected.size() + 1) << "every version once: the changed message's old one stays";
  int changed_versions = 0;
  for (const auto& v : got) changed_versions += v.find("|" + changed_msg + "|") != std::string::npos;
  EXPECT_EQ(changed_versions, 2) << "the status change is a new version";
  auto details = column_values(s.rows_of(kDetailsStream), "AlertId");
  EXPECT_EQ(std::set<std::string>(details.begin(), details.end()), truth_alert_ids(s));
  expect_route_within(s, "/alerts", 60);
  expect_route_within(s, "/trace", 60);
  expect_route_within(s, "/quarantine", 60);
  auto stats = s.etp->stats()["routes"]["/trace"];
  std::cout << "[ e2e ] trace-all: " << got.size() << " message versions, " << stats["requests"]
            << " trace requests, busiest minute " << stats["max_in_60s"] << "\n";
}

// Roles as processes at a raised budget: a fetcher and the shipper are SIGKILLed while lookups drain. Nothing
// is lost, the queue survives (it lives in Redis), and a lookup is repeated at most once per kill.
TEST(SupportingData, LookupsSurviveSigkillOfAFetcherAndTheShipper) {
  auto o = sim_options(160, 100000);
  o.days = 1;
  o.modified_percent = 0;
  o.latency_ms = 50;
  Stack s(o);
  auto env = s.env({{"ETP_BACKFILL_DAYS", "1"},
                    {"ETP_RATE_LIMIT_PER_MIN", "1200"},
                    {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                    {"FETCHERS", "2"},
                    {"COORDINATOR_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())},
                    {"SHIPPER_ENDPOINT", "tcp://127.0.0.1:" + std::to_string(free_port())}});
  std::map<std::string, Process> roles;
  int generation = 0;
  auto start = [&](const std::string& name) {
    roles[name] =
        s.start({name.substr(0, name.find('-'))}, env, name + "-" + std::to_string(++generation) + ".log");
  };
  for (const char* n : {"coordinator", "shipper", "fetcher-a", "fetcher-b"}) start(n);
  // Wait until lookups are being drained, then kill in the middle of it.
  ASSERT_TRUE(wait_until([&] { return s.rows_of(kDetailsStream).size() >= 20; }, std::chrono::seconds(180)));
  for (const char* victim : {"fetcher-a", "shipper"}) {
    roles[victim].kill(SIGKILL);
    roles[victim].wait_for(std::chrono::seconds(5));
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    start(victim);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  bool done = wait_until([&] { return all_arrived(s); }, std::chrono::seconds(360));
  for (auto& [name, p] : roles) p.kill(SIGTERM);
  for (auto& [name, p] : roles) p.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(done) << "details " << s.rows_of(kDetailsStream).size() << "/" << truth_alert_ids(s).size()
                    << ", trace " << s.rows_of(kTraceStream).size() << "/" << truth_messages(s).size();
  auto details = s.rows_of(kDetailsStream);
  auto trace = s.rows_of(kTraceStream);
  std::size_t dup = details.size() - truth_alert_ids(s).size() + trace.size() - truth_messages(s).size();
  // A shipper killed after Azure accepted a batch but before its report repeats that batch (one lookup a
  // batch).
  EXPECT_LE(dup, 8u);
  std::cout << "[ e2e ] lookups kill test: " << details.size() << " details, " << trace.size() << " traces, "
            << dup << " repeated\n";
  Redis r(parse_redis_url(s.redis.url()).value());
  for (const char* q : {kDetailsQueue, kTraceQueue})
    EXPECT_EQ(LookupQueue(r, "etp:", q, 1000).stats().value().length, 0) << q;
  expect_exactly_once(s);
}

// A key without the trace entitlement during a backfill with ETP_TRACE=all: the trace is switched off,
// `backfill` exits 4 naming it, and its slices stay planned — once the entitlement is granted, the next
// backfill reads them.
TEST(SupportingData, ATraceRefusedDuringTheBackfillIsAHoleUntilGrantedThenRead) {
  auto o = sim_options(30, 100000);
  o.days = 1;
  o.clean_messages = 300;
  Stack s(o);
  s.etp->set_faults({{"trace_forbidden", true}});
  auto env = s.env({{"ETP_BACKFILL_DAYS", "1"},
                    {"FETCHERS", "2"},
                    {"ETP_TRACE", "all"},
                    {"ETP_DETAILS", "off"},
                    {"ETP_QUARANTINE", "off"},
                    {"ETP_RATE_LIMIT_PER_MIN", "600"},
                    {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
  auto refused = s.start({"backfill"}, env, "backfill-refused.log");
  auto rc = refused.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value()) << "backfill must not wait for a switched-off stream";
  EXPECT_EQ(*rc, 4) << "a switched-off stream is a hole in the record";
  EXPECT_NE(s.log("backfill-refused.log").find("without trace-all, switched off"), std::string::npos);
  expect_exactly_once(s);  // the alerts went on
  EXPECT_TRUE(s.rows_of(kTraceStream).empty());
  s.etp->set_faults({{"trace_forbidden", false}});
  auto granted = s.start({"backfill"}, env, "backfill-granted.log");
  rc = granted.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << s.log("backfill-granted.log").substr(0, 2000);
  std::set<std::string> truth, got;
  for (const auto& t : s.etp->trace_all_truth()) truth.insert(t["etp_message_id"].get<std::string>());
  auto rows = s.rows_of(kTraceStream);
  for (const auto& r : rows) got.insert(r["EtpMessageId"].get<std::string>());
  EXPECT_EQ(got, truth) << "every trace slice read once granted";
  EXPECT_EQ(rows.size(), truth.size()) << "a message version twice";
}

// Bad answers on the lookup routes: an alert that has aged out is recorded and dropped (never retried), and a
// key without the trace entitlement (403 on /trace) switches the trace off with a clear message while the
// alerts and their details go on.
TEST(SupportingData, NotFoundIsDroppedAndAMissingTraceEntitlementSwitchesOnlyTheTraceOff) {
  auto o = sim_options(12, 100000);
  o.days = 1;
  o.modified_percent = 0;
  Stack s(o);
  s.etp->set_faults({{"trace_forbidden", true}});
  {
    Redis r(parse_redis_url(s.redis.url()).value());
    ASSERT_TRUE(LookupQueue(r, "etp:", kDetailsQueue, 1000)
                    .enqueue({{kDetailsQueue, "aged-out-alert", now_micros()}}));
  }
  auto env = s.env(
      {{"ETP_BACKFILL_DAYS", "1"}, {"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
  auto run = s.start({"run"}, env, "run.log");
  bool details = wait_until(
      [&] {
        auto d = column_values(s.rows_of(kDetailsStream), "AlertId");
        return std::set<std::string>(d.begin(), d.end()) == truth_alert_ids(s);
      },
      std::chrono::seconds(120));
  Redis r(parse_redis_url(s.redis.url()).value());
  wait_until([&] { return LookupQueue(r, "etp:", kDetailsQueue, 1000).stats().value().length == 0; },
             std::chrono::seconds(30));
  auto st = status_of(s, env);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  EXPECT_FALSE(run.wait_for(std::chrono::milliseconds(10)).has_value()) << "run must keep going";
  run.kill(SIGTERM);
  auto rc = run.wait_for(std::chrono::seconds(30));
  ASSERT_TRUE(details);
  expect_exactly_once(s);
  auto q = LookupQueue(r, "etp:", kDetailsQueue, 1000).stats().value();
  EXPECT_EQ(q.length, 0);
  EXPECT_EQ(q.not_found, 1) << "the aged-out alert is recorded as not found";
  EXPECT_TRUE(s.rows_of(kTraceStream).empty());
  EXPECT_LE(s.etp->stats()["routes"]["/trace"]["requests"].get<int>(), 3)
      << "a refused route is not hammered";
  auto log = s.log("run.log");
  EXPECT_NE(log.find("fetcher.source_switched_off"), std::string::npos);
  EXPECT_NE(log.find("fetcher.lookup_not_found"), std::string::npos);
  ASSERT_TRUE(st.is_object());
  bool switched_off = false;
  for (const auto& l : st["lookups"]) switched_off = switched_off || l.contains("switched_off");
  EXPECT_TRUE(switched_off) << st.dump();
  EXPECT_TRUE(st["fatal"].is_null()) << "a missing trace entitlement is not fatal";
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0);
}

// ---- the v2 alert search (ETP_API) and ETP_DOMAINS ----
namespace {

// The alert rows delivered: (id, LastModifiedOn or "v2") with repeats.
std::multiset<std::pair<std::string, std::string>> alert_rows(const Stack& s) {
  std::multiset<std::pair<std::string, std::string>> out;
  for (const auto& r : s.rows_of()) {
    out.emplace(r["AlertId"].get<std::string>(),
                r["LastModifiedOn"].is_null() ? "v2" : r["LastModifiedOn"].get<std::string>());
  }
  return out;
}

std::set<std::string> v2_truth_ids(const Stack& s, const std::string& domain = "",
                                   const std::string& traffic = "") {
  std::set<std::string> out;
  for (const auto& t : s.etp->v2_truth()) {
    if (!domain.empty() && t["domain"] != domain) continue;
    if (!traffic.empty() && t["traffic_type"] != traffic) continue;
    out.insert(t["id"].get<std::string>());
  }
  return out;
}

}  // namespace

// The vendor switches v1 off in the middle of a backfill (404 on the v1 alert routes): ETP_API=auto says so
// loudly and reads on through the v2 search from where each partition stood. Every alert arrives but those
// that v2 cannot show (created before a partition's place and modified after it, not yet reached by v1): the
// backfill records that possible hole as a gap per switched partition and exits 4. Nothing twice, within 60
// requests a minute.
TEST(AlertApi, WithV1RetiredMidBackfillTheRestArrivesThroughV2AndThePossibleHoleIsAGap) {
  auto o = sim_options(3000, 60);
  o.latency_ms = 50;
  Stack s(o);
  auto env = s.env({{"FETCHERS", "2"}, {"ETP_DETAILS", "off"}});
  auto p = s.start({"backfill"}, env, "retire.log");
  ASSERT_TRUE(wait_until([&] { return s.rows_of().size() >= 600; }, std::chrono::seconds(120)))
      << s.log("retire.log").substr(0, 3000);
  s.etp->set_faults({{"retire_v1", 404}});
  auto rc = p.wait_for(std::chrono::seconds(400));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  std::string log = s.log("retire.log");
  EXPECT_EQ(*rc, 4) << log.substr(0, 4000);
  EXPECT_NE(log.find("etp.v1_retired"), std::string::npos) << "the switch was not said";
  EXPECT_NE(log.find("modified-after/"), std::string::npos) << "the possible hole was not named";
  auto rows = alert_rows(s);
  std::set<std::pair<std::string, std::string>> unique(rows.begin(), rows.end());
  EXPECT_EQ(rows.size(), unique.size()) << "a row twice";
  std::set<std::string> ids, v1_ids, v2_ids;
  for (const auto& [id, version] : unique) {
    ids.insert(id);
    (version == "v2" ? v2_ids : v1_ids).insert(id);
  }
  // Missing: only alerts modified after they were created (their version time moved past a switch point).
  std::map<std::string, Micros> created_of;
  for (const auto& t : s.etp->v2_truth())
    created_of[t["id"]] = *parse_time(t["alert_date"].get<std::string>());
  std::size_t missing = 0;
  for (const auto& [id, lmo] : s.truth()) {
    if (ids.count(id)) continue;
    ++missing;
    EXPECT_GT(lmo - created_of[id], 30 * kMicrosPerSecond) << id << " was never modified, yet is missing";
  }
  EXPECT_LT(missing, 60u);
  EXPECT_GT(v1_ids.size(), 500u);
  EXPECT_GT(v2_ids.size(), 500u) << "v2 read nothing after the switch";
  // Only an alert created in the very second where a partition switched can come through both APIs.
  std::size_t both = 0;
  for (const auto& id : v2_ids) both += v1_ids.count(id);
  EXPECT_LE(both, 8u);
  auto stats = s.etp->stats()["routes"]["/alerts"];
  EXPECT_LE(stats["max_in_60s"].get<int>(), 60) << stats.dump();
  auto st = status_of(s, env);
  ASSERT_TRUE(st.is_object()) << s.log("status.out");
  EXPECT_EQ(st["alert_api"]["reading"], "v2") << st.dump();
  EXPECT_TRUE(st["alert_api"].contains("v1_retired")) << st.dump();
  std::cout << "[ e2e ] v1 retired mid-backfill: " << v1_ids.size() << " alerts through v1, " << v2_ids.size()
            << " through v2, " << both << " through both, " << missing
            << " modified alerts missing; vendor saw " << stats.dump() << "\n";
}

// ETP_API=v2 with ETP_DOMAINS: a partition per domain, only that domain's alerts arrive, and each alert's
// details (v2) bring its etp_message_id, whose trace is then looked up: the message id joins every table.
TEST(AlertApi, V2WithDomainsDeliversOnlyThoseDomainsAndJoinsTheMessageIdThroughDetails) {
  auto o = sim_options(240, 60);
  o.days = 1;
  o.modified_percent = 0;
  Stack s(o);
  auto env = s.env({{"ETP_API", "v2"},
                    {"ETP_DOMAINS", "contoso.test"},
                    {"ETP_BACKFILL_DAYS", "1"},
                    {"FETCHERS", "2"},
                    {"ETP_DETAILS", "all"},
                    {"ETP_TRACE", "alerted"}});
  auto backfill = s.start({"backfill"}, env, "v2.log");
  auto rc = backfill.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value());
  ASSERT_EQ(*rc, 0) << s.log("v2.log").substr(0, 3000);
  const auto want = v2_truth_ids(s, "contoso.test");
  ASSERT_GT(want.size(), 20u);
  ASSERT_LT(want.size(), v2_truth_ids(s).size());
  auto rows = alert_rows(s);
  std::set<std::string> got;
  for (const auto& [id, version] : rows) {
    EXPECT_EQ(version, "v2");
    got.insert(id);
  }
  EXPECT_EQ(rows.size(), got.size()) << "an alert twice";
  EXPECT_EQ(got, want);
  Redis r(parse_redis_url(s.redis.url()).value());
  StateStore store(r);
  auto parts = store.partitions();
  ASSERT_TRUE(parts);
  for (const auto& p : parts.value()) {
    if (p.source == "alerts-v1") {
      EXPECT_EQ(p.domain, "contoso.test") << p.id;
    }
  }

  std::map<std::string, std::string> message_of;
  for (const auto& t : s.etp->v2_truth()) message_of[t["id"]] = t["etp_message_id"];
  std::set<std::string> messages;
  for (const auto& id : want) messages.insert(message_of[id]);
  auto run = s.start({"run"}, env, "v2-run.log");
  bool joined = wait_until(
      [&] {
        auto d = column_values(s.rows_of(kDetailsStream), "AlertId");
        auto t = column_values(s.rows_of(kTraceStream), "EtpMessageId");
        return std::set<std::string>(d.begin(), d.end()) == want &&
               std::set<std::string>(t.begin(), t.end()) == messages;
      },
      std::chrono::seconds(240));
  run.kill(SIGTERM);
  EXPECT_EQ(run.wait_for(std::chrono::seconds(30)), 0);
  ASSERT_TRUE(joined) << "details " << s.rows_of(kDetailsStream).size() << "/" << want.size() << ", trace "
                      << s.rows_of(kTraceStream).size() << "/" << messages.size();
  auto details = s.rows_of(kDetailsStream);
  EXPECT_EQ(details.size(), want.size()) << "a details row twice";
  for (const auto& d : details) {
    EXPECT_EQ(d["ApiVersion"], "v2");
    EXPECT_EQ(d["EtpMessageId"], message_of[d["AlertId"]]) << d.dump();
  }
  EXPECT_EQ(s.rows_of(kTraceStream).size(), messages.size()) << "a trace row twice";
  expect_route_within(s, "/alerts", 60);
  expect_route_within(s, "/trace", 60);
}

// ETP_DOMAINS with v1, which documents no domain filter: every page is read, only the configured domains'
// alerts are shipped (inbound: by recipient).
TEST(AlertApi, V1WithDomainsShipsOnlyThoseDomains) {
  auto o = sim_options(400, 600);
  o.days = 1;
  o.modified_percent = 0;
  Stack s(o);
  auto env = s.env({{"ETP_API", "v1"},
                    {"ETP_DOMAINS", "contoso.test,fabrikam.test"},
                    {"ETP_TRAFFIC_TYPES", "inbound"},
                    {"ETP_BACKFILL_DAYS", "1"},
                    {"ETP_DETAILS", "off"},
                    {"ETP_RATE_LIMIT_PER_MIN", "600"},
                    {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
  auto p = s.start({"backfill"}, env, "v1-domains.log");
  auto rc = p.wait_for(std::chrono::seconds(120));
  ASSERT_TRUE(rc.has_value());
  ASSERT_EQ(*rc, 0) << s.log("v1-domains.log").substr(0, 3000);
  auto want = v2_truth_ids(s, "contoso.test", "inbound");
  auto more = v2_truth_ids(s, "fabrikam.test", "inbound");
  want.insert(more.begin(), more.end());
  ASSERT_LT(want.size(), v2_truth_ids(s, "", "inbound").size());
  auto rows = alert_rows(s);
  std::set<std::string> got;
  for (const auto& [id, version] : rows) got.insert(id);
  EXPECT_EQ(rows.size(), got.size());
  EXPECT_EQ(got, want);
}

// 450 alerts on one last_modified_on (a mass campaign): v1 pages 200 of them, then reads the instant in
// slices by email_status, checked against the vendor's count there — all arrive, once, with no gap and exit
// 0, within 60 requests a minute.
TEST(AlertApi, TieOfFourHundredFiftyAlertsIsReadWholeThroughV1Filters) {
  auto o = sim_options(400, 60);
  o.tie_burst = 450;
  Stack s(o);
  auto env = s.env({{"FETCHERS", "2"}, {"ETP_DETAILS", "off"}});
  auto p = s.start({"backfill"}, env, "tie.log");
  auto rc = p.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  std::string log = s.log("tie.log");
  EXPECT_EQ(*rc, 0) << log.substr(0, 3000);
  EXPECT_NE(log.find("pager.tie_read"), std::string::npos) << log.substr(0, 3000);
  EXPECT_NE(log.find("\"alerts\":450"), std::string::npos) << log.substr(0, 3000);
  expect_exactly_once(s);
  expect_route_within(s, "/alerts", 60);
}

// The same tie through the v2 search: search_after pages through it like any other second.
TEST(AlertApi, TheV2SearchPagesThroughATieWithoutSlicing) {
  auto o = sim_options(400, 60);
  o.tie_burst = 450;
  Stack s(o);
  auto env = s.env({{"ETP_API", "v2"}, {"FETCHERS", "2"}, {"ETP_DETAILS", "off"}});
  auto p = s.start({"backfill"}, env, "v2-tie.log");
  auto rc = p.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  EXPECT_EQ(*rc, 0) << s.log("v2-tie.log").substr(0, 3000);
  auto rows = alert_rows(s);
  std::set<std::string> got;
  for (const auto& [id, version] : rows) got.insert(id);
  EXPECT_EQ(rows.size(), got.size()) << "an alert twice";
  EXPECT_EQ(got, v2_truth_ids(s));
  EXPECT_EQ(s.log("v2-tie.log").find("pager.tie_read"), std::string::npos);
  expect_route_within(s, "/alerts", 60);
}

// ---- adaptive partitions ----
// A skewed day (80 % of the alerts in one 3-hour campaign) with 4 fetchers: the fetchers whose slices run out
// ask for work, the coordinator asks the campaign's holder to yield and splits its unread remainder among
// them. Every version arrives once, the backfill exits 0, within the route's budget — for v1 and for v2.
class AdaptivePartitions : public ::testing::TestWithParam<std::string> {};

namespace {
// Two days, 8,000 alerts, 80 % of them in one 3-hour campaign; 4 fetchers at 600 requests a minute.
sim::EtpSimOptions skewed_day() {
  auto o = sim_options(8000, 600);
  o.days = 2;
  o.campaign_percent = 80;
  o.campaign_hours = 3;
  o.modified_percent = 0;
  o.latency_ms = 200;
  return o;
}
std::map<std::string, std::string> skewed_day_env(const Stack& s, const std::string& api) {
  return s.env({{"ETP_API", api},
                {"FETCHERS", "4"},
                {"ETP_BACKFILL_DAYS", "2"},
                {"ETP_DETAILS", "off"},
                {"ETP_RATE_LIMIT_PER_MIN", "600"},
                {"ETP_RATE_LIMIT_OVERRIDE", "1"}});
}
}  // namespace

TEST_P(AdaptivePartitions, ASkewedDayIsSplitWhileItIsReadAndEveryAlertArrivesOnce) {
  Stack s(skewed_day());
  auto env = skewed_day_env(s, GetParam());
  const std::string name = "skewed-" + GetParam() + ".log";
  auto p = s.start({"backfill"}, env, name);
  auto rc = p.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  std::string log = s.log(name);
  EXPECT_EQ(*rc, 0) << log.substr(0, 3000);
  EXPECT_NE(log.find("coordinator.split"), std::string::npos) << "nothing was split";
  if (GetParam() == "v2") {
    auto rows = alert_rows(s);
    std::set<std::string> got;
    for (const auto& [id, version] : rows) got.insert(id);
    EXPECT_EQ(rows.size(), got.size()) << "an alert twice";
    EXPECT_EQ(got, v2_truth_ids(s));
  } else {
    expect_exactly_once(s);
  }
  expect_route_within(s, "/alerts", 600);
  // Pieces start at their own start (not at the window's): the requests stay near the fewest full pages.
  std::map<std::string, std::size_t> per_type;
  for (const auto& t : s.etp->v2_truth()) ++per_type[t["traffic_type"].get<std::string>()];
  std::size_t ideal = 0;
  for (const auto& [t, n] : per_type) ideal += (n + 199) / 200;
  auto requests = s.etp->stats()["routes"]["/alerts"]["requests"].get<std::size_t>();
  EXPECT_LE(requests, 2 * ideal + 20) << "ideal " << ideal;
  Redis r(parse_redis_url(s.redis.url()).value());
  auto parts = StateStore(r).partitions().value();
  std::size_t pieces = 0;
  for (const auto& q : parts) pieces += q.id.find('+') != std::string::npos ? 1 : 0;
  EXPECT_GT(pieces, 0u);
  std::cout << "[ e2e ] skewed day, " << GetParam() << ": " << pieces << " partitions split off, "
            << s.etp->stats()["routes"]["/alerts"].dump() << "\n";
}

INSTANTIATE_TEST_SUITE_P(E2E, AdaptivePartitions, ::testing::Values("v1", "v2"));

// Where the budget, not the fetchers, is the limit — a vendor fast enough that one fetcher asks for more than
// the budget gives — a split gains nothing and costs a half-empty page at its boundary: the same skewed day
// with the vendor answering at once and 30 requests a minute is read without a split, every version once.
// (The test above, where one fetcher cannot use the budget alone, splits.)
TEST(BudgetBoundSplits, ARouteWhoseBudgetIsTheLimitIsNotSplitFor) {
  auto o = skewed_day();
  o.alerts = 4000;
  o.latency_ms = 0;
  Stack s(o);
  auto env = skewed_day_env(s, "v1");
  env["ETP_RATE_LIMIT_PER_MIN"] = "30";
  auto p = s.start({"backfill"}, env, "saturated.log");
  auto rc = p.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  std::string log = s.log("saturated.log");
  EXPECT_EQ(*rc, 0) << log.substr(0, 3000);
  EXPECT_EQ(log.find("coordinator.split"), std::string::npos) << "split though the budget was the limit";
  EXPECT_EQ(log.find("coordinator.yield_asked"), std::string::npos);
  expect_exactly_once(s);
  expect_route_within(s, "/alerts", 30);
}

// ---- the dashboard and the rules against a real Prometheus ----
namespace {
std::string url_encoded(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}
}  // namespace

// Debian's Prometheus scrapes a running connector (`run`, every role in one process, named as the compose
// coordinator job) every second and loads the alert rules; every expression of every dashboard panel is then
// evaluated through its HTTP API during the backfill's last minute: each returns data (a number, not NaN),
// the gauges the numbers they stand for, and no rule fires on this healthy run.
TEST(Prometheus, EveryDashboardPanelReturnsDataFromARunningConnector) {
  const std::string prometheus_bin = "/usr/bin/prometheus";  // Debian's (scripts/install-deps.sh)
  ASSERT_EQ(::access(prometheus_bin.c_str(), X_OK), 0) << "prometheus is not installed";
  Stack s(sim_options(3000, 120));
  const int metrics = free_port(), web = free_port();
  std::ofstream(s.dir + "/prometheus.yml")
      << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
      << "rule_files: ['" << ETP2S_SOURCE_DIR << "/deploy/prometheus/rules/etp2sentinel.rules.yml']\n"
      << "scrape_configs:\n  - job_name: etp2sentinel-coordinator\n    static_configs:\n"
      << "      - targets: ['127.0.0.1:" << metrics << "']\n";
  Process prometheus(
      {prometheus_bin, "--config.file=" + s.dir + "/prometheus.yml", "--storage.tsdb.path=" + s.dir + "/tsdb",
       "--web.listen-address=127.0.0.1:" + std::to_string(web)},
      {}, s.dir + "/prometheus.log");
  auto p = s.start({"run"},
                   s.env({{"ETP_RATE_LIMIT_PER_MIN", "120"},
                          {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                          {"FETCHERS", "2"},
                          {"METRICS_PORT", std::to_string(metrics)},
                          {"METRICS_ADDRESS", "127.0.0.1"}}),
                   "run.log");
  HttpClient http;
  auto query = [&](const std::string& expr) {
    auto r =
        http.send({"GET",
                   "http://127.0.0.1:" + std::to_string(web) + "/api/v1/query?query=" + url_encoded(expr),
                   {},
                   "",
                   std::nullopt});
    return r && r->status == 200 ? nlohmann::json::parse(r->body, nullptr, false) : nlohmann::json();
  };
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(180)))
      << s.log("run.log").substr(0, 3000);
  // A few scrapes after completion, well within the minute that the rates look back.
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = query("etp2s_backfill_progress_ratio");
        return r.is_object() && !r["data"]["result"].empty() &&
               r["data"]["result"][0]["value"][1].get<std::string>() == "1";
      },
      std::chrono::seconds(30)))
      << s.log("prometheus.log").substr(0, 2000);
  std::this_thread::sleep_for(std::chrono::seconds(3));

  std::ifstream in(std::string(ETP2S_SOURCE_DIR) + "/deploy/grafana/dashboards/etp2sentinel.json");
  auto dash = nlohmann::json::parse(in);
  std::map<std::string, double> first_value;
  std::size_t exprs = 0;
  for (const auto& panel : dash["panels"]) {
    for (const auto& t : panel["targets"]) {
      const std::string expr = t["expr"];
      ++exprs;
      auto r = query(expr);
      ASSERT_TRUE(r.is_object()) << expr;
      EXPECT_EQ(r["status"], "success") << expr << ": " << r.dump();
      const auto& result = r["data"]["result"];
      EXPECT_FALSE(result.empty()) << panel["title"] << ": no data for " << expr;
      bool a_number = false;
      for (const auto& series : result) {
        const std::string v = series["value"][1];
        a_number = a_number || (v != "NaN" && v != "+Inf" && v != "-Inf");
      }
      EXPECT_TRUE(a_number) << panel["title"] << ": only NaN for " << expr << ": " << result.dump();
      if (!result.empty()) first_value[expr] = std::stod(result[0]["value"][1].get<std::string>());
    }
  }
  EXPECT_GE(exprs, 25u);
  // The numbers the panels stand for.
  EXPECT_EQ(first_value["max(etp2s_budget_limit)"], 120);
  EXPECT_EQ(first_value["sum by (job) (up{job=~\"etp2sentinel-.*|standins\"})"], 1);
  EXPECT_GT(first_value["sum(rate(etp2s_shipper_rows_total{outcome=\"delivered\"}[1m]))"], 0)
      << "the backfill's delivery rate is shown within its last minute";
  EXPECT_EQ(first_value["max(etp2s_fatal)"], 0);
  EXPECT_LT(first_value["max by (stream, traffic_type) (etp2s_cursor_lag_seconds)"], 120)
      << "caught up: the lag is seconds, not the age of the newest alert";
  // The rules loaded, and none fires on this healthy run.
  auto rules =
      http.send({"GET", "http://127.0.0.1:" + std::to_string(web) + "/api/v1/rules", {}, "", std::nullopt});
  ASSERT_TRUE(rules && rules->status == 200);
  auto groups = nlohmann::json::parse(rules->body)["data"]["groups"];
  ASSERT_FALSE(groups.empty());
  EXPECT_GE(groups[0]["rules"].size(), 13u);
  for (const auto& rule : groups[0]["rules"]) {
    EXPECT_EQ(rule["health"], "ok") << rule.dump();
    EXPECT_NE(rule["state"], "firing") << rule["name"];
  }
}

// A backfill killed (SIGKILL) right after its first split resumes with the pieces the split left in Redis:
// every version arrives and the second run exits 0. Repeats only within the documented window (the shipper
// killed between Azure's answer and writing the marks: one page).
TEST(AdaptivePartitionsKilled, ABackfillKilledAfterASplitResumesThePiecesAndLosesNothing) {
  Stack s(skewed_day());
  auto env = skewed_day_env(s, "auto");
  {
    auto first = s.start({"backfill"}, env, "killed.log");
    ASSERT_TRUE(wait_until([&] { return s.log("killed.log").find("coordinator.split") != std::string::npos; },
                           std::chrono::seconds(120)))
        << s.log("killed.log").substr(0, 3000);
    first.kill(SIGKILL);
    first.wait_for(std::chrono::seconds(10));
  }
  auto second = s.start({"backfill"}, env, "resumed.log");
  auto rc = second.wait_for(std::chrono::seconds(300));
  ASSERT_TRUE(rc.has_value()) << "backfill did not finish";
  EXPECT_EQ(*rc, 0) << s.log("resumed.log").substr(0, 3000);
  auto got = s.delivered();
  std::set<Version> unique(got.begin(), got.end());
  EXPECT_EQ(unique, s.truth()) << "an alert version was lost";
  EXPECT_LE(got.size() - unique.size(), 200u) << "repeats beyond the one page of the documented window";
  expect_route_within(s, "/alerts", 600);
  std::cout << "[ e2e ] killed after a split: " << got.size() - unique.size() << " rows repeated\n";
}

// Steady state is quiet: once the backfill is complete, half a minute of one-second polling writes a handful
// of lines (the summary), not a progress line per partition every 5 s.
TEST(EndToEnd, SteadyStateLogsASummaryNotAProgressLinePerPartition) {
  Stack s(sim_options(300, 600));
  auto p =
      s.start({"run"},
              s.env({{"ETP_RATE_LIMIT_PER_MIN", "600"}, {"ETP_RATE_LIMIT_OVERRIDE", "1"}, {"FETCHERS", "2"}}),
              "quiet.log");
  ASSERT_TRUE(wait_until([&] { return s.backfill_complete(); }, std::chrono::seconds(120)))
      << s.log("quiet.log").substr(0, 3000);
  ASSERT_TRUE(wait_until(
      [&] { return s.log("quiet.log").find("coordinator.backfill_complete") != std::string::npos; },
      std::chrono::seconds(30)));
  // Let the lookups of the backfill drain (they log while they work), then count.
  std::this_thread::sleep_for(std::chrono::seconds(15));
  const std::size_t before = s.log("quiet.log").size();
  std::this_thread::sleep_for(std::chrono::seconds(30));
  const std::string tail = s.log("quiet.log").substr(before);
  std::size_t lines = 0, progress = 0;
  std::istringstream in(tail);
  for (std::string l; std::getline(in, l);) {
    ++lines;
    progress += l.find("\"event\":\"progress\"") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(progress, 0u) << tail.substr(0, 2000);
  EXPECT_LE(lines, 6u) << tail.substr(0, 2000);
  EXPECT_GT(s.etp->stats()["routes"]["/alerts"]["requests"].get<int>(), 0);
}

// `status` shows the serving coordinator's measurement — per stream the share, the rate and the ETA over its
// last minute, per partition its rate — while a backfill runs; once no coordinator runs it says the rates are
// not measured and shows none (a rate divided by the time since the plan would be made up).
TEST(EndToEnd, StatusShowsTheRunningCoordinatorsRecentRateAndNoneOnceItStops) {
  Stack s(sim_options(6000, 60));
  auto env = s.env({{"FETCHERS", "2"}});
  auto backfill = s.start({"backfill"}, env, "backfill.log");
  nlohmann::json st;
  bool seen = wait_until(
      [&] {
        st = status_of(s, env);
        if (!st.is_object() || !st["streams"].contains("alerts-v1")) return false;
        const auto& a = st["streams"]["alerts-v1"];
        return a["rows_per_s"].get<double>() > 0 && a["eta_s"].get<double>() > 0;
      },
      std::chrono::seconds(90));
  EXPECT_TRUE(seen) << st.dump();
  EXPECT_EQ(st["rates"], "measured by the running coordinator over its last minute") << st.dump();
  bool partition_rate = false;
  for (const auto& p : st["partitions"])
    partition_rate = partition_rate || (p.contains("alerts_per_s") && p["alerts_per_s"].get<double>() > 0);
  EXPECT_TRUE(partition_rate) << st.dump();
  auto rc = backfill.wait_for(std::chrono::seconds(180));
  ASSERT_TRUE(rc.has_value());
  EXPECT_EQ(*rc, 0) << s.log("backfill.log").substr(0, 3000);
  st = status_of(s, env);
  ASSERT_TRUE(st.is_object());
  EXPECT_EQ(st["rates"], "not measured: no coordinator is running");
  EXPECT_TRUE(st["streams"].empty()) << st.dump();
  for (const auto& p : st["partitions"]) EXPECT_FALSE(p.contains("eta_s")) << p.dump();
  expect_exactly_once(s);
}
