// End to end: a real redis-server, etp-sim and sentinel-sim on loopback ports, and the etp2sentinel binary.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "common/http.h"
#include "common/state.h"
#include "sim/etp/etp_sim.h"
#include "sim/sentinel/sentinel_sim.h"
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

  // Delivered versions; `duplicates` counts rows delivered more than once. Rows that came through the Data
  // Collector API (legacy mode) carry type-suffixed names, as a classic custom table does.
  std::multiset<Version> delivered(bool legacy = false) const {
    const char* id = legacy ? "AlertId_s" : "AlertId";
    const char* lmo = legacy ? "LastModifiedOn_t" : "LastModifiedOn";
    std::multiset<Version> out;
    for (const auto& r : sentinel->rows()) out.insert({r[id], *parse_time(r[lmo].get<std::string>())});
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
  for (const auto& r : s.sentinel->rows()) ASSERT_FALSE(r["EtpMessageId"].get<std::string>().empty());
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
    ASSERT_EQ(r["_LogType"], "FireEyeETPAlerts");
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
    for (const auto& r : s.sentinel->rows()) {
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
  EXPECT_EQ(log.find("definitely-not-the-key"), std::string::npos) << "the key leaked into the log";
  EXPECT_EQ(s.sentinel->stats()["rows_accepted"], 0);
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
  Redis r(parse_redis_url(s.redis.url()).value());
  StateStore store(r);
  auto parts = store.partitions();
  ASSERT_TRUE(parts.ok());
  for (const auto& part : parts.value()) {
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
      ++partitions;
      EXPECT_GE(std::stod(l.substr(l.rfind(' ') + 1)), 0.99) << l;
    }
    EXPECT_EQ(partitions, 4);  // 2 fetchers, 2 traffic types: 2 partitions each
  }
  EXPECT_EQ(metric_sum(after, "etp2s_token_refreshes_total", "kind=\"azure\""), 1);
  EXPECT_EQ(metric_sum(after, "etp2s_fatal"), 0);
  EXPECT_NE(after.find("etp2s_build_info{version=\""), std::string::npos);
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
