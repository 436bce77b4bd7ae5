// Shipper throughput on one core: alert JSON (as a fetcher hands it on) → row → batch → gzip, and
// Data Collector signing. Run: build/bench/bench_shipper --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include "shipper/destination.h"
#include "shipper/gzip.h"
#include "shipper/shipper.h"
#include "tests/support/alerts.h"

namespace {

std::vector<std::string> wire_alerts(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string subject = i % 3 == 0 ? "Überweisung bestätigen – 請確認 💸 " + std::to_string(i)
                                     : "Invoice " + std::to_string(i);
    out.push_back(etp2s::testing::make_alert(i, subject).raw.dump());
  }
  return out;
}

void BM_TransformSerializeGzipBatch(benchmark::State& state) {
  const int n = 1000;
  auto wire = wire_alerts(n);
  const int level = static_cast<int>(state.range(0));
  std::size_t wire_bytes = 0;
  for (auto _ : state) {
    std::vector<etp2s::Row> rows;
    rows.reserve(n);
    for (const auto& w : wire) {
      etp2s::Alert a;
      a.raw = etp2s::OrderedJson::parse(w);
      a.raw_text = w;
      a.id = etp2s::string_at(a.raw, {"id"});
      a.etp_message_id = etp2s::string_at(a.raw, {"attributes", "email", "etp_message_id"});
      a.last_modified_on = etp2s::string_at(a.raw, {"attributes", "meta", "last_modified_on"});
      a.last_modified_us = *etp2s::parse_time(a.last_modified_on);
      a.traffic_type = "inbound";
      rows.push_back(etp2s::build_row(a, nullptr));
    }
    for (auto [b, e] : etp2s::Shipper::pack(rows, 1'000'000)) {
      auto gz = etp2s::gzip_compress(etp2s::Shipper::body(rows, b, e), level);
      wire_bytes += gz.size();
      benchmark::DoNotOptimize(gz);
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["gzip_bytes_per_alert"] =
      static_cast<double>(wire_bytes) / static_cast<double>(state.iterations() * n);
}
BENCHMARK(BM_TransformSerializeGzipBatch)->Arg(1)->Arg(6)->Unit(benchmark::kMillisecond);

void BM_DataCollectorSign(benchmark::State& state) {
  std::vector<etp2s::Row> rows;
  for (int i = 0; i < 200; ++i) rows.push_back(etp2s::build_row(etp2s::testing::make_alert(i), nullptr));
  std::string body = etp2s::Shipper::body(rows, 0, rows.size());
  etp2s::Secret key(
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==");
  for (auto _ : state) {
    benchmark::DoNotOptimize(etp2s::shared_key_authorization("00000000-1111-2222-3333-444444444444", key,
                                                             body.size(), "Sun, 22 Nov 2026 13:45:00 GMT"));
  }
  state.SetItemsProcessed(state.iterations() * 200);
}
BENCHMARK(BM_DataCollectorSign);

}  // namespace

BENCHMARK_MAIN();
