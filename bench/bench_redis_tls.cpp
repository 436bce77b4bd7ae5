// What rediss:// costs: the same Redis calls the pipeline makes, over plain TCP and through TlsPipe (TLS 1.3,
// certificate verified), against one local redis-server listening on both a plain and a TLS port.
// Run: build/bench/bench_redis_tls
#include <benchmark/benchmark.h>

#include "common/redis.h"
#include "tests/support/certs.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

struct Server {
  std::string dir = temp_dir("etp2s-bench-redis");
  int plain = free_port();
  int tls = free_port();
  Process proc;
  Server() {
    write_server_cert(dir + "/s.crt", dir + "/s.key", "IP:127.0.0.1");
    proc = Process(
        {"/usr/bin/redis-server", "--port", std::to_string(plain), "--tls-port", std::to_string(tls),
         "--bind", "127.0.0.1", "--tls-cert-file", dir + "/s.crt", "--tls-key-file", dir + "/s.key",
         "--tls-ca-cert-file", dir + "/s.crt", "--tls-auth-clients", "no", "--save", "", "--dir", dir},
        {}, dir + "/redis.log");
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
};

Server& server() {
  static Server s;
  return s;
}

Redis client(bool tls) {
  auto& s = server();
  std::string url =
      std::string(tls ? "rediss" : "redis") + "://127.0.0.1:" + std::to_string(tls ? s.tls : s.plain) + "/0";
  return Redis(parse_redis_url(url, s.dir + "/s.crt").value());
}

void RoundTrip(benchmark::State& state) {
  Redis r = client(state.range(0) == 1);
  for (auto _ : state) {
    auto reply = r.command({"INCR", "bench:counter"});
    if (!reply) state.SkipWithError(reply.error().c_str());
  }
  state.SetLabel(state.range(0) == 1 ? "rediss" : "redis");
}
BENCHMARK(RoundTrip)->Arg(0)->Arg(1);

// A dedupe check of one 200-alert page: one pipeline of 200 HEXISTS.
void Pipeline200(benchmark::State& state) {
  Redis r = client(state.range(0) == 1);
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < 200; ++i) cmds.push_back({"HEXISTS", "bench:marks", "alert-" + std::to_string(i)});
  for (auto _ : state) {
    auto reply = r.pipeline(cmds);
    if (!reply) state.SkipWithError(reply.error().c_str());
  }
  state.SetItemsProcessed(state.iterations() * 200);
  state.SetLabel(state.range(0) == 1 ? "rediss" : "redis");
}
BENCHMARK(Pipeline200)->Arg(0)->Arg(1);

// Connection set-up (a reconnect after a Redis restart): TCP vs TCP + TLS handshake + verification.
void Connect(benchmark::State& state) {
  for (auto _ : state) {
    Redis r = client(state.range(0) == 1);
    auto reply = r.command({"PING"});
    if (!reply) state.SkipWithError(reply.error().c_str());
  }
  state.SetLabel(state.range(0) == 1 ? "rediss" : "redis");
}
BENCHMARK(Connect)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
