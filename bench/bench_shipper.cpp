// Throughput on one core: the fetcher's alert → row, the shipper's row batch → pack → gzip, and Data
// Collector signing. Run: build/bench/bench_shipper --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include "shipper/destination.h"
#include "shipper/gzip.h"
#include "shipper/shipper.h"
#include "sources/v1_alerts.h"
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

// The fetcher's side now: alert JSON (as the vendor sends it) → row.
void BM_V1AlertRows(benchmark::State& state) {
  const int n = 1000;
  auto wire = wire_alerts(n);
  for (auto _ : state) {
    for (const auto& w : wire) {
      etp2s::Alert a;
      a.raw = etp2s::OrderedJson::parse(w);
      a.raw_text = w;
      a.id = etp2s::string_at(a.raw, {"id"});
      a.etp_message_id = etp2s::string_at(a.raw, {"attributes", "email", "etp_message_id"});
      a.last_modified_on = etp2s::string_at(a.raw, {"attributes", "meta", "last_modified_on"});
      a.last_modified_us = *etp2s::parse_time(a.last_modified_on);
      a.traffic_type = "inbound";
      benchmark::DoNotOptimize(etp2s::alert_row(a));
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_V1AlertRows)->Unit(benchmark::kMillisecond);

// The shipper's hot path: row batch frames (200 rows, as fetchers send them) → decode → pack ≤ 1 MB → gzip.
void BM_ShipperDecodePackGzip(benchmark::State& state) {
  const int n = 1000;
  auto wire = wire_alerts(n);
  std::vector<etp2s::Frames> frames;
  for (int b = 0; b < n / 200; ++b) {
    etp2s::RowBatch batch{"w:" + std::to_string(b), "inbound-00", 1, "FireEyeETPAlerts_CL", {}};
    for (int i = b * 200; i < (b + 1) * 200; ++i)
      batch.rows.push_back(etp2s::alert_row(etp2s::testing::make_alert(i)));
    frames.push_back(etp2s::encode(etp2s::msg(std::move(batch))));
  }
  const int level = static_cast<int>(state.range(0));
  std::size_t wire_bytes = 0;
  for (auto _ : state) {
    for (const auto& f : frames) {
      auto m = etp2s::decode(f.kind, f.header, std::string_view(*f.payload));
      const auto& rows = std::get<etp2s::RowBatch>(std::get<etp2s::Message>(m).body).rows;
      for (auto [b, e] : etp2s::Shipper::pack(rows, 1'000'000)) {
        auto gz = etp2s::gzip_compress(etp2s::Shipper::body(rows, b, e), level);
        wire_bytes += gz.size();
        benchmark::DoNotOptimize(gz);
      }
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["gzip_bytes_per_row"] =
      static_cast<double>(wire_bytes) / static_cast<double>(state.iterations() * n);
}
BENCHMARK(BM_ShipperDecodePackGzip)->Arg(1)->Arg(6)->Unit(benchmark::kMillisecond);

void BM_DataCollectorSign(benchmark::State& state) {
  std::vector<etp2s::Row> rows;
  for (int i = 0; i < 200; ++i) rows.push_back(etp2s::alert_row(etp2s::testing::make_alert(i)));
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
