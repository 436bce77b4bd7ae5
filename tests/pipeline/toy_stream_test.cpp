// Adding a stream is one source adapter and one schema file: a toy source (numbers, no vendor at all) with
// its own schema and an enrichment step runs through the real coordinator, fetchers and shipper (inproc
// ZeroMQ, a real redis-server, sentinel-sim) without any change to their code, and every row arrives exactly
// once.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "common/stream.h"
#include "coordinator/coordinator.h"
#include "fetcher/fetcher.h"
#include "shipper/service.h"
#include "sim/sentinel/sentinel_sim.h"
#include "sources/source.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

constexpr int kNumbers = 1000;  // bounded partitions: [0, 500) and [500, 1000)
constexpr int kPage = 64;

nlohmann::json read_json(const std::string& name) {
  std::ifstream in(std::string(ETP2S_SOURCE_DIR) + "/tests/pipeline/toy/" + name);
  return nlohmann::json::parse(in);
}

Row number_row(long long n) {
  RowWriter w(64 * 1000);
  w.time_us("TimeGenerated", now_micros());
  w.number_text("Number", std::to_string(n));
  w.number_text("Square", std::to_string(n * n));
  return Row{"toy:" + std::to_string(n), now_micros(), w.finish(), {}};
}

class NumbersReader final : public PageReader {
 public:
  NumbersReader(long long from, std::optional<Micros> end) : next_(from), end_(end ? *end : next_) {}
  Result<SourcePage, EtpError> read_page() override {
    SourcePage p;
    long long stop = std::min<long long>(next_ + kPage, end_);
    for (; next_ < stop; ++next_) p.rows.push_back(number_row(next_));
    p.records = p.rows.size();
    p.cursor = std::to_string(next_);
    p.reached_end = next_ >= end_;
    p.caught_up = p.reached_end;
    return p;
  }

 private:
  long long next_, end_;
};

// Partitions are ranges of numbers (start_us/end_us reused as plain numbers); the live one has nothing new.
class NumbersSource final : public Source {
 public:
  std::string name() const override { return "toy-numbers"; }
  std::string stream() const override { return "ToyNumbers_CL"; }
  std::string route() const override { return "toy"; }
  std::vector<Partition> plan(const PlanWindow&) const override {
    std::vector<Partition> out;
    for (int i = 0; i < 3; ++i) {
      Partition p;
      p.id = "toy-" + std::to_string(i);
      p.source = name();
      p.traffic_type = "numbers";
      p.start_us = i * kNumbers / 2;
      if (i < 2) p.end_us = (i + 1) * kNumbers / 2;
      p.cursor = std::to_string(p.start_us);
      out.push_back(p);
    }
    return out;
  }
  std::unique_ptr<PageReader> open(const ReadScope& s) override {
    return std::make_unique<NumbersReader>(std::stoll(s.cursor), s.end_us);
  }
  std::optional<ReadScope> sweep_scope(const std::string&, const std::string&, const std::string&,
                                       int) const override {
    return std::nullopt;
  }
};

// Adds a column to every row and emits a row of another stream for every tenth number.
class ParityStep final : public EnrichmentStep {
 public:
  void apply(std::vector<Row>& rows, const std::function<void(const std::string&, Row)>& emit) override {
    for (auto& r : rows) {
      long long n = std::stoll(r.key.substr(4));
      add_column(r, "Parity", n % 2 ? "\"odd\"" : "\"even\"");
      if (n % 10 != 0) continue;
      RowWriter w(1000);
      w.time_us("TimeGenerated", r.time_us);
      w.number_text("Milestone", std::to_string(n));
      emit("ToyMilestones_CL", Row{"toy-milestone:" + std::to_string(n), r.time_us, w.finish(), {}});
    }
  }
};

}  // namespace

TEST(ToyStream, AFakeSourceWithItsOwnSchemaIsDeliveredWithoutTouchingFetcherOrShipper) {
  ASSERT_TRUE(register_stream(read_json("ToyNumbers_CL.json")).ok());
  ASSERT_TRUE(register_stream(read_json("ToyMilestones_CL.json")).ok());
  register_source("toy-numbers", [](const SourceContext&) { return std::make_unique<NumbersSource>(); });
  register_enrichment("toy-numbers", [] { return std::make_unique<ParityStep>(); });

  RedisServer redis;
  sim::SentinelSimOptions so;
  so.extra_streams = {"Custom-ToyNumbers_CL", "Custom-ToyMilestones_CL"};
  sim::SentinelSim sentinel(so);
  std::string dir = temp_dir("etp2s-toy");
  std::ofstream(dir + "/azure.secret") << "sim-azure-client-secret";
  auto cfg = load_config(map_env({{"ETP_BASE_URL", "http://127.0.0.1:9"},
                                  {"ETP_API_KEY", "unused-by-the-toy-source"},
                                  {"ETP_RATE_LIMIT_PER_MIN", "100000"},
                                  {"ETP_RATE_LIMIT_OVERRIDE", "1"},
                                  {"REDIS_URL", redis.url()},
                                  {"SENTINEL_DCE_URL", sentinel.base_url()},
                                  {"SENTINEL_DCR_ID", "dcr-00112233445566778899aabbccddeeff"},
                                  {"AZURE_AUTHORITY_HOST", sentinel.base_url()},
                                  {"AZURE_TENANT_ID", so.tenant_id},
                                  {"AZURE_CLIENT_ID", so.client_id},
                                  {"AZURE_CLIENT_SECRET_FILE", dir + "/azure.secret"}}));
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  Config c = cfg.value();
  c.sources = {"toy-numbers"};
  c.coordinator_endpoint = "inproc://toy-coordinator";
  c.shipper_endpoint = "inproc://toy-shipper";
  EXPECT_EQ(c.sentinel_streams["ToyNumbers_CL"], "Custom-ToyNumbers_CL");

  std::atomic<bool> stop{false};
  Coordinator coordinator(c, {c.coordinator_endpoint, 5, kMicrosPerSecond, 5});
  std::thread coord([&] { coordinator.run(stop); });
  std::thread ship([&] { ShipperService(c, {"toy-shipper", c.shipper_endpoint}).run(stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // inproc: bind before connect
  std::vector<std::thread> fetchers;
  FetcherOptions f1{"toy-fetcher-1"}, f2{"toy-fetcher-2"};
  fetchers.emplace_back([&] { Fetcher(c, f1).run(stop); });
  fetchers.emplace_back([&] { Fetcher(c, f2).run(stop); });

  const std::size_t expected = kNumbers + kNumbers / 10;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until &&
         (sentinel.rows().size() < expected || !coordinator.backfill_complete()))
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  stop = true;
  for (auto& t : fetchers) t.join();
  ship.join();
  coord.join();

  std::multiset<long long> numbers, milestones;
  std::set<std::string> parity_ok;
  for (const auto& r : sentinel.rows()) {
    std::string stream = r.value("_Stream", "");
    if (stream == "Custom-ToyMilestones_CL") {
      milestones.insert(r["Milestone"].get<long long>());
      continue;
    }
    ASSERT_EQ(stream, "Custom-ToyNumbers_CL") << r.dump();
    long long n = r["Number"].get<long long>();
    numbers.insert(n);
    EXPECT_EQ(r["Square"].get<long long>(), n * n);
    EXPECT_EQ(r["Parity"], n % 2 ? "odd" : "even");
  }
  EXPECT_EQ(numbers.size(), static_cast<std::size_t>(kNumbers)) << "every number once";
  EXPECT_EQ(std::set<long long>(numbers.begin(), numbers.end()).size(), numbers.size()) << "duplicates";
  EXPECT_EQ(*numbers.begin(), 0);
  EXPECT_EQ(*numbers.rbegin(), kNumbers - 1);
  EXPECT_EQ(milestones.size(), static_cast<std::size_t>(kNumbers / 10));
  EXPECT_TRUE(coordinator.backfill_complete());
}
