// The shipper against sentinel-sim over real HTTP.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "common/stream.h"
#include "shipper/shipper.h"
#include "sim/sentinel/sentinel_sim.h"
#include "sources/v1_alerts.h"
#include "tests/support/alerts.h"
#include "tests/support/certs.h"

using namespace etp2s;
using etp2s::sim::SentinelSim;
using etp2s::sim::SentinelSimOptions;
using etp2s::testing::make_alert;

namespace {

struct Fixture {
  std::string pem = etp2s::testing::write_self_signed_pem(::testing::TempDir() + "etp2s-cert.pem");
  SentinelSimOptions opt = [this] {
    SentinelSimOptions o;
    o.certificate_pem_path = pem;
    return o;
  }();
};

EntraSettings entra(const SentinelSim& sim, const SentinelSimOptions& o) {
  return EntraSettings{
      sim.base_url(), o.tenant_id, o.client_id, "https://monitor.azure.com//.default", {2000, 10000, ""}};
}

// Built field by field: GCC 12 at -O3 warns (maybe-uninitialized, a false positive) on the braced form.
DataCollectorSettings collector(const SentinelSim& sim, const SentinelSimOptions& o, const std::string& key,
                                const std::string& time_field) {
  DataCollectorSettings s;
  s.url = sim.base_url();
  s.workspace_id = o.workspace_id;
  s.shared_key = Secret(key);
  s.log_type = "FireEyeETPAlerts";
  s.http.connect_timeout_ms = 2000;
  s.http.total_timeout_ms = 10000;
  s.time_generated_field = time_field;
  return s;
}

LogsIngestionSettings ingestion(const SentinelSim& sim, const SentinelSimOptions& o) {
  return LogsIngestionSettings{sim.base_url(), o.dcr_id, o.stream, {2000, 10000, ""}, 1};
}

std::vector<Row> rows_for(const std::vector<Alert>& alerts, const Destination& d) {
  std::vector<Row> rows;
  for (const auto& a : alerts) rows.push_back(alert_row(a, d.row_limits()));
  return rows;
}

std::vector<Alert> alerts(int n, int big_every = 0) {
  std::vector<Alert> out;
  for (int i = 0; i < n; ++i) {
    std::string subject =
        big_every && i % big_every == 0 ? std::string(40000, 's') : "subject \u2603 " + std::to_string(i);
    out.push_back(make_alert(i, subject));
  }
  return out;
}

std::multiset<std::string> delivered_ids(const SentinelSim& sim) {
  std::multiset<std::string> out;
  for (const auto& r : sim.rows()) out.insert(r["AlertId"].get<std::string>());
  return out;
}

std::set<std::string> ids_of(const std::vector<Alert>& as) {
  std::set<std::string> out;
  for (const auto& a : as) out.insert(a.id);
  return out;
}

struct Recorder {
  std::vector<double> waits;
  ShipperHooks hooks() {
    ShipperHooks h;
    h.sleep = [this](double s) { waits.push_back(s); };  // time compressed: nothing really sleeps
    return h;
  }
};

ShipperHooks no_sleep() {
  ShipperHooks h;
  h.sleep = [](double) {};
  return h;
}

}  // namespace

TEST(ShipperIntegration, EveryRowArrivesExactlyOnceAndNoCallExceedsOneMegabyte) {
  Fixture f;
  SentinelSim sim(f.opt);
  auto cred = std::make_shared<ClientSecretCredential>(entra(sim, f.opt), Secret(f.opt.client_secret));
  LogsIngestionDestination dest(ingestion(sim, f.opt), cred);
  Recorder rec;
  Shipper shipper(dest, rec.hooks());
  auto as = alerts(1500, 7);  // ~ 8 MB of rows: many calls
  auto report = shipper.deliver(rows_for(as, dest));
  EXPECT_TRUE(report.fatal.empty()) << report.fatal;
  EXPECT_EQ(report.delivered.size(), as.size());
  auto got = delivered_ids(sim);
  EXPECT_EQ(got.size(), as.size());
  EXPECT_EQ(std::set<std::string>(got.begin(), got.end()), ids_of(as));
  auto st = sim.stats();
  EXPECT_GT(st["ingestion_calls"].get<int>(), 4);
  EXPECT_LE(st["max_body_bytes"].get<std::size_t>(), 1'000'000u);
  EXPECT_LE(st["max_wire_bytes"].get<std::size_t>(), 1'000'000u);
  EXPECT_EQ(st["fields_over_limit"], 0);
  EXPECT_EQ(cred->fetches(), 1) << "one token reused for every call";
}

TEST(ShipperIntegration, A300KbSubjectIsDeliveredTruncatedAndMarked) {
  Fixture f;
  SentinelSim sim(f.opt);
  LogsIngestionDestination dest(ingestion(sim, f.opt), std::make_shared<ClientSecretCredential>(
                                                           entra(sim, f.opt), Secret(f.opt.client_secret)));
  Shipper shipper(dest, no_sleep());
  std::vector<Alert> as{make_alert(1, std::string(300 * 1024, 'B')), make_alert(2)};
  auto report = shipper.deliver(rows_for(as, dest));
  ASSERT_EQ(report.delivered.size(), 2u);
  auto rows = sim.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0]["TruncatedFields"], nlohmann::json::array({"Subject", "RawAlert"}));
  EXPECT_EQ(rows[1]["TruncatedFields"], nlohmann::json::array());
  EXPECT_EQ(sim.stats()["fields_over_limit"], 0);
}

TEST(ShipperIntegration, ALongOutageCompressedInTimeLosesNothing) {
  Fixture f;
  SentinelSim sim(f.opt);
  LogsIngestionDestination dest(ingestion(sim, f.opt), std::make_shared<ClientSecretCredential>(
                                                           entra(sim, f.opt), Secret(f.opt.client_secret)));
  Recorder rec;
  Shipper shipper(dest, rec.hooks());
  std::vector<std::string> script;
  for (int i = 0; i < 60; ++i) script.push_back(i % 3 == 0 ? "429" : (i % 3 == 1 ? "503" : "500"));
  sim.set_faults({{"script", script}, {"retry_after_s", 30}});
  auto as = alerts(300);
  auto report = shipper.deliver(rows_for(as, dest));
  EXPECT_TRUE(report.fatal.empty());
  EXPECT_EQ(report.retries, 60u);
  EXPECT_EQ(delivered_ids(sim).size(), as.size());
  std::set<std::string> versions;
  for (const auto& a : as) versions.insert(version_key(a));
  EXPECT_EQ(std::set<std::string>(report.delivered.begin(), report.delivered.end()), versions);
  // Retry-After was honoured on the 429s and 503s (30 s each); the 500s backed off with jitter up to 60 s.
  double total = 0;
  for (double w : rec.waits) total += w;
  EXPECT_EQ(rec.waits.size(), 60u);
  EXPECT_GE(total, 40 * 30.0);
}

TEST(ShipperIntegration, TokenExpiryMidRunIsInvisibleAndA401RefreshesOnce) {
  Fixture f;
  SentinelSim sim(f.opt);
  auto cred = std::make_shared<ClientSecretCredential>(entra(sim, f.opt), Secret(f.opt.client_secret));
  LogsIngestionDestination dest(ingestion(sim, f.opt), cred);
  Shipper shipper(dest, no_sleep());
  auto first = shipper.deliver(rows_for(alerts(10), dest));
  ASSERT_EQ(first.delivered.size(), 10u);
  sim.set_faults({{"expire_tokens", true}});  // Azure stops honouring the cached token
  auto as = alerts(20);
  auto second = shipper.deliver(rows_for(as, dest));
  EXPECT_EQ(second.delivered.size(), 20u);
  EXPECT_EQ(second.retries, 1u);
  EXPECT_EQ(cred->fetches(), 2);
  EXPECT_EQ(delivered_ids(sim).size(), 30u);
}

TEST(ShipperIntegration, ShortTokenLifetimesAreRefreshedBeforeExpiry) {
  Fixture f;
  f.opt.token_ttl_s = 2;
  SentinelSim sim(f.opt);
  auto cred = std::make_shared<ClientSecretCredential>(entra(sim, f.opt), Secret(f.opt.client_secret));
  LogsIngestionDestination dest(ingestion(sim, f.opt), cred);
  Shipper shipper(dest, no_sleep());
  std::size_t delivered = 0, retries = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = shipper.deliver(rows_for(alerts(5), dest));
    delivered += r.delivered.size();
    retries += r.retries;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_EQ(delivered, 30u);
  EXPECT_EQ(retries, 0u) << "a token was used after expiry";
  EXPECT_GE(cred->fetches(), 2);
}

TEST(ShipperIntegration, Repeated401IsFatal) {
  Fixture f;
  SentinelSim sim(f.opt);
  auto cred = std::make_shared<ClientSecretCredential>(entra(sim, f.opt), Secret(f.opt.client_secret));
  LogsIngestionDestination dest(
      LogsIngestionSettings{sim.base_url(), f.opt.dcr_id, f.opt.stream, {2000, 10000, ""}, 1}, cred);
  sim.set_faults({{"token_ttl_s", 0}});  // every token is born expired
  Shipper shipper(dest, no_sleep());
  auto r = shipper.deliver(rows_for(alerts(3), dest));
  EXPECT_TRUE(r.delivered.empty());
  EXPECT_NE(r.fatal.find("401"), std::string::npos) << r.fatal;
  EXPECT_EQ(r.retries, 1u);
}

TEST(ShipperIntegration, Forbidden403StopsCleanlyAndAcknowledgesNothing) {
  Fixture f;
  SentinelSim sim(f.opt);
  LogsIngestionDestination dest(ingestion(sim, f.opt), std::make_shared<ClientSecretCredential>(
                                                           entra(sim, f.opt), Secret(f.opt.client_secret)));
  Shipper shipper(dest, no_sleep());
  sim.set_faults({{"forbid", true}});
  auto r = shipper.deliver(rows_for(alerts(2500), dest));
  EXPECT_TRUE(r.delivered.empty());
  EXPECT_NE(r.fatal.find("Monitoring Metrics Publisher"), std::string::npos) << r.fatal;
  EXPECT_EQ(r.batches, 1u) << "stopped at the first 403";
  EXPECT_EQ(sim.stats()["rows_accepted"], 0);
}

TEST(ShipperIntegration, WrongDcrOrStreamIsFatalWithAMessage) {
  Fixture f;
  SentinelSim sim(f.opt);
  auto cred = std::make_shared<ClientSecretCredential>(entra(sim, f.opt), Secret(f.opt.client_secret));
  LogsIngestionDestination dest(
      LogsIngestionSettings{
          sim.base_url(), "dcr-ffffffffffffffffffffffffffffffff", f.opt.stream, {2000, 10000, ""}, 1},
      cred);
  auto r = Shipper(dest, no_sleep()).deliver(rows_for(alerts(1), dest));
  EXPECT_NE(r.fatal.find("SENTINEL_DCR_ID"), std::string::npos) << r.fatal;
  EXPECT_TRUE(r.delivered.empty());
}

TEST(ShipperIntegration, Status413SplitsTheBatch) {
  Fixture f;
  SentinelSim sim(f.opt);
  LogsIngestionDestination dest(ingestion(sim, f.opt), std::make_shared<ClientSecretCredential>(
                                                           entra(sim, f.opt), Secret(f.opt.client_secret)));
  sim.set_faults({{"script", {"413", "413"}}});
  auto as = alerts(40);
  auto r = Shipper(dest, no_sleep()).deliver(rows_for(as, dest));
  EXPECT_EQ(r.delivered.size(), 40u);
  EXPECT_TRUE(r.dead_lettered.empty());
  EXPECT_EQ(delivered_ids(sim).size(), 40u);
}

TEST(ShipperIntegration, EveryTokenSourceWorks) {
  Fixture f;
  SentinelSim sim(f.opt);
  auto e = entra(sim, f.opt);
  std::string fed_path = ::testing::TempDir() + "etp2s-federated";
  std::ofstream(fed_path) << f.opt.federated_token << "\n";
  std::vector<std::shared_ptr<TokenCredential>> creds = {
      std::make_shared<ClientSecretCredential>(e, Secret(f.opt.client_secret)),
      std::make_shared<ClientCertificateCredential>(e, f.pem),
      std::make_shared<WorkloadIdentityCredential>(e, fed_path),
      std::make_shared<ManagedIdentityCredential>(ManagedIdentitySettings{sim.base_url() + "/msi/token",
                                                                          Secret(f.opt.identity_header),
                                                                          "",
                                                                          "https://monitor.azure.com",
                                                                          "",
                                                                          {}}),
      std::make_shared<ManagedIdentityCredential>(
          ManagedIdentitySettings{"",
                                  Secret(),
                                  sim.base_url() + "/metadata/identity/oauth2/token",
                                  "https://monitor.azure.com",
                                  "",
                                  {}}),
  };
  int i = 0;
  for (auto& cred : creds) {
    LogsIngestionDestination dest(ingestion(sim, f.opt), cred);
    auto r = Shipper(dest, no_sleep()).deliver(rows_for({make_alert(i++)}, dest));
    EXPECT_EQ(r.delivered.size(), 1u) << cred->name() << ": " << r.fatal;
  }
  auto tr = sim.stats()["token_requests"];
  EXPECT_EQ(tr["client_secret"], 1);
  EXPECT_EQ(tr["certificate"], 1);
  EXPECT_EQ(tr["federated"], 1);
  EXPECT_EQ(tr["identity_endpoint"], 1);
  EXPECT_EQ(tr["imds"], 1);
  // The federated token file is read afresh for every token: a rotated (here: wrong) token is noticed.
  std::ofstream(fed_path) << "rotated-but-wrong\n";
  creds[2]->invalidate();
  auto t = creds[2]->token();
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.error().fatal);
}

TEST(ShipperIntegration, CredentialSelectionFollowsTheAzureSdkOrder) {
  Config c;
  c.azure_tenant_id = "t";
  c.azure_client_id = "c";
  c.azure_client_secret = Secret("secret-123456");
  c.azure_client_certificate_path = "/x.pem";
  EXPECT_EQ(credential_from_config(c)->name(), "client-secret");
  c.azure_client_secret = Secret();
  EXPECT_EQ(credential_from_config(c)->name(), "client-certificate");
  c.azure_client_certificate_path.clear();
  c.azure_federated_token_file = "/var/run/token";
  EXPECT_EQ(credential_from_config(c)->name(), "workload-identity");
  c.azure_federated_token_file.clear();
  c.identity_endpoint = "http://localhost:42356/msi/token";
  EXPECT_EQ(credential_from_config(c)->name(), "managed-identity");
  c.identity_endpoint.clear();
  EXPECT_EQ(credential_from_config(c)->name(), "managed-identity-imds");
}

TEST(ShipperIntegration, DataCollectorModeSignsEveryAttemptAndHandlesUnicode) {
  Fixture f;
  SentinelSim sim(f.opt);
  DataCollectorDestination dest(collector(sim, f.opt, f.opt.shared_key, "LastModifiedOn"));
  sim.set_faults({{"script", {"503", "429"}}});
  auto as = alerts(50);
  as.push_back(make_alert(99, "\u00dcn\u00efc\u00f6d\u00e9 \u2603 \U0001F4E7"));
  auto r = Shipper(dest, no_sleep()).deliver(rows_for(as, dest));
  EXPECT_TRUE(r.fatal.empty()) << r.fatal;
  EXPECT_EQ(r.delivered.size(), as.size());
  EXPECT_EQ(r.retries, 2u);
  auto rows = sim.rows();
  ASSERT_EQ(rows.size(), as.size());
  EXPECT_EQ(rows.back()["Subject_s"], "\u00dcn\u00efc\u00f6d\u00e9 \u2603 \U0001F4E7");
  EXPECT_EQ(rows.back()["_LogType"], "FireEyeETPAlerts");

  DataCollectorDestination wrong(
      collector(sim, f.opt, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "LastModifiedOn"));
  auto bad = Shipper(wrong, no_sleep()).deliver(rows_for(alerts(1), wrong));
  EXPECT_NE(bad.fatal.find("SENTINEL_SHARED_KEY"), std::string::npos) << bad.fatal;
}

// What a classic custom table holds: no record may carry TimeGenerated (the API reserves it), so the record
// time goes through time-generated-field, and every column arrives with its type's suffix.
TEST(ShipperIntegration, DataCollectorRowsCarryNoReservedPropertyAndArriveTypeSuffixed) {
  Fixture f;
  SentinelSim sim(f.opt);
  DataCollectorDestination dest(
      collector(sim, f.opt, f.opt.shared_key, find_stream("FireEyeETPAlerts_CL")->time_generated_column));
  auto as = alerts(5);
  auto sent = rows_for(as, dest);
  ASSERT_NE(sent.front().json.find("\"TimeGenerated\""), std::string::npos) << "the source no longer sets it";
  auto r = Shipper(dest, no_sleep()).deliver(sent);
  ASSERT_TRUE(r.fatal.empty()) << r.fatal;
  ASSERT_EQ(r.delivered.size(), as.size());
  auto rows = sim.rows();
  ASSERT_EQ(rows.size(), as.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_EQ(row["AlertId_s"], as[i].id);
    EXPECT_FALSE(row.contains("AlertId"));
    EXPECT_TRUE(row["LegacyId_d"].is_number());
    EXPECT_TRUE(row["Read_b"].is_boolean());
    EXPECT_TRUE(row["AlertTypes_s"].is_string()) << "nested JSON is stored as text";
    ASSERT_TRUE(row.contains("LastModifiedOn_t"));
    // TimeGenerated came from the named column, not from the receive time.
    EXPECT_EQ(parse_time(row["TimeGenerated"].get<std::string>()), as[i].last_modified_us);
  }
}

TEST(ShipperIntegration, DataCollectorSimRefusesAWholePostWithAReservedProperty) {
  Fixture f;
  SentinelSim sim(f.opt);
  DataCollectorDestination dest(collector(sim, f.opt, f.opt.shared_key, ""));
  for (const char* reserved : {"tenant", "RawData", "rawdata"}) {
    std::string body = std::string(R"([{"AlertId":"a-1"},{"AlertId":"a-2",")") + reserved + R"(":"x"}])";
    auto p = dest.post(body);
    EXPECT_EQ(p.status, 400) << reserved << ": " << p.message;
    EXPECT_EQ(p.outcome, Outcome::Refused) << reserved;
    EXPECT_NE(p.message.find("reserved"), std::string::npos) << p.message;
  }
  EXPECT_EQ(sim.rows().size(), 0u) << "a refused post stores nothing, not even its valid records";
  EXPECT_EQ(sim.stats()["reserved_refused"], 3);
  // TimeGenerated is left out by the destination itself; the sim would refuse it like the others.
  auto stripped =
      nlohmann::json::parse(data_collector_body(R"([{"TimeGenerated":"2026-11-20T10:00:00Z","A":1}])"));
  EXPECT_EQ(stripped, nlohmann::json::parse(R"([{"A":1}])"));
  EXPECT_EQ(dest.post(R"([{"A":1}])").status, 200);
  EXPECT_EQ(sim.rows().size(), 1u);
}

TEST(ShipperIntegration, EveryStreamNamesADatetimeColumnForTheDataCollectorsRecordTime) {
  for (const auto& s : streams()) {
    if (s.table.rfind("FireEyeETP", 0) != 0) continue;  // the compiled-in tables, not test streams
    ASSERT_FALSE(s.time_generated_column.empty()) << s.table;
    bool datetime = false;
    for (const auto& c : s.document["columns"])
      datetime = datetime || (c["name"] == s.time_generated_column && c["type"] == "datetime");
    EXPECT_TRUE(datetime) << s.table << ": " << s.time_generated_column;
  }
  EXPECT_EQ(find_stream("FireEyeETPAlerts_CL")->time_generated_column, "LastModifiedOn");
  auto doc = nlohmann::json::parse(R"({"table":"X_CL","time_generated_column":"Name",
      "columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Name","type":"string"}]})");
  EXPECT_FALSE(parse_stream_schema(doc).ok()) << "a string column cannot carry the record time";
}

TEST(ShipperIntegration, StopWhileRetryingAcknowledgesNothing) {
  Fixture f;
  SentinelSim sim(f.opt);
  LogsIngestionDestination dest(ingestion(sim, f.opt), std::make_shared<ClientSecretCredential>(
                                                           entra(sim, f.opt), Secret(f.opt.client_secret)));
  sim.set_faults({{"outage_s", 60}});
  int attempts = 0;
  ShipperHooks h;
  h.sleep = [&](double) { ++attempts; };
  h.stop_requested = [&] { return attempts >= 3; };
  auto r = Shipper(dest, h).deliver(rows_for(alerts(5), dest));
  EXPECT_TRUE(r.interrupted);
  EXPECT_TRUE(r.delivered.empty());
  EXPECT_EQ(sim.stats()["rows_accepted"], 0);
}
