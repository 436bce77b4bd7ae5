// The shipper role over a real socket, a real redis-server and sentinel-sim: failures that used to go quiet
// (a dead letter that could not be written, delivered keys that could not be recorded) are loud and recover;
// forged and malformed input is refused without uploading anything.
#include "shipper/service.h"

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "common/metrics.h"
#include "common/protocol.h"
#include "common/state.h"
#include "sim/sentinel/sentinel_sim.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;

namespace {

constexpr Micros kTime = 1795000000LL * kMicrosPerSecond;

struct ShipperStack {
  RedisServer redis_server;
  sim::SentinelSim sentinel{sim::SentinelSimOptions{}};
  Redis redis{parse_redis_url(redis_server.url()).value()};
  StateStore store{redis};
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(free_port());
  std::atomic<bool> stop{false};
  std::thread role;
  zmq::socket_t fetcher = make_socket(zmq::socket_type::dealer);
  int batches = 0;

  ShipperStack() {
    std::string dir = temp_dir("etp2s-shipper-service");
    std::ofstream(dir + "/azure.secret") << "sim-azure-client-secret";
    sim::SentinelSimOptions so;
    auto cfg = load_config(map_env({{"REDIS_URL", redis_server.url()},
                                    {"SENTINEL_DCE_URL", sentinel.base_url()},
                                    {"SENTINEL_DCR_ID", so.dcr_id},
                                    {"AZURE_AUTHORITY_HOST", sentinel.base_url()},
                                    {"AZURE_TENANT_ID", so.tenant_id},
                                    {"AZURE_CLIENT_ID", so.client_id},
                                    {"AZURE_CLIENT_SECRET_FILE", dir + "/azure.secret"}}),
                           ConfigNeeds{false, true, true});
    EXPECT_TRUE(cfg.ok()) << cfg.error();
    Partition p;
    p.id = "inbound-00";
    p.traffic_type = "inbound";
    p.end_us = kTime + kMicrosPerDay;
    EXPECT_TRUE(store.create_plan({p}, now_micros()).ok());
    Config c = cfg.value();
    role = std::thread([this, c] { ShipperService(c, {"shipper-under-test", endpoint}).run(stop); });
    fetcher.set(zmq::sockopt::routing_id, std::string("fetcher-under-test"));
    fetcher.connect(endpoint);
  }
  ~ShipperStack() {
    stop = true;
    role.join();
  }

  RowBatch batch(int rows, const std::string& partition = "inbound-00") {
    RowBatch b{"b" + std::to_string(++batches), partition, 0, "FireEyeETPAlerts_CL", {}};
    for (int i = 0; i < rows; ++i) {
      std::string key = "key-" + std::to_string(batches) + "-" + std::to_string(i);
      b.rows.push_back({key, kTime, R"({"AlertId":")" + key + R"(","Subject":"s"})", {}});
    }
    return b;
  }

  // The delivery report for `batch`, if one comes within `timeout`.
  std::optional<DeliveryReport> report(const std::string& batch, std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      auto r = receive(fetcher, std::chrono::milliseconds(50), false);
      if (!r || r->message.kind != Kind::DeliveryReport) continue;
      auto d = std::get<DeliveryReport>(r->message.body);
      if (d.batch == batch) return d;
    }
    return std::nullopt;
  }

  std::string redis_get_type(const std::string& key) { return redis.command({"TYPE", key})->str; }
};

}  // namespace

TEST(ShipperService, ADeadLetterThatCannotBeWrittenIsAnErrorAndTheRowStaysUndelivered) {
  ShipperStack s;
  ASSERT_TRUE(s.redis.command({"SET", "etp:deadletter", "not a list"}).ok());  // RPUSH now fails
  double failures0 = Metrics::get().state_write_failures("dead_letter").Value();
  s.sentinel.set_faults({{"script", {"413"}}});
  RowBatch b = s.batch(1);
  ASSERT_TRUE(send(s.fetcher, msg(b)));
  auto r = s.report(b.batch, std::chrono::seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->delivered.empty());
  EXPECT_TRUE(r->dead_lettered.empty()) << "a row not kept anywhere must not count as set aside";
  EXPECT_EQ(r->outcome, Outcome::RetryLater);
  EXPECT_EQ(Metrics::get().state_write_failures("dead_letter").Value() - failures0, 1);

  // Once Redis takes it, the same refusal sets the row aside under the configured prefix, with its stream.
  ASSERT_TRUE(s.redis.command({"DEL", "etp:deadletter"}).ok());
  s.sentinel.set_faults({{"script", {"413"}}});
  RowBatch again = s.batch(1);
  ASSERT_TRUE(send(s.fetcher, msg(again)));
  auto r2 = s.report(again.batch, std::chrono::seconds(20));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->dead_lettered, std::vector<std::string>{again.rows[0].key});
  EXPECT_EQ(r2->outcome, Outcome::Delivered);
  auto kept = s.redis.command({"LRANGE", "etp:deadletter", "0", "-1"});
  ASSERT_TRUE(kept.ok());
  ASSERT_EQ(kept->elements.size(), 1u);
  auto entry = nlohmann::json::parse(kept->elements[0].str);
  EXPECT_EQ(entry["stream"], "FireEyeETPAlerts_CL");
  EXPECT_EQ(entry["key"], again.rows[0].key);
}

TEST(ShipperService, DeliveredKeysThatCannotBeRecordedStopNewWorkLoudlyAndAreRecordedOnceRedisTakesThem) {
  ShipperStack s;
  const std::string marks = "etp:marks:" + format_day(kTime);
  ASSERT_TRUE(s.redis.command({"SET", marks, "not a hash"}).ok());  // HSET now fails
  double failures0 = Metrics::get().state_write_failures("delivered_marks").Value();
  RowBatch b = s.batch(2);
  ASSERT_TRUE(send(s.fetcher, msg(b)));
  EXPECT_FALSE(s.report(b.batch, std::chrono::seconds(3)).has_value())
      << "reported before the delivered keys were recorded";
  EXPECT_EQ(Metrics::get().state_write_failures("delivered_marks").Value() - failures0, 1);
  EXPECT_EQ(s.sentinel.rows().size(), 2u) << "Azure did get the rows";

  // While stalled, new work is not acknowledged (the fetcher will resend it elsewhere or later).
  RowBatch waiting = s.batch(1);
  ASSERT_TRUE(send(s.fetcher, msg(waiting)));
  bool acked = false;
  for (int i = 0; i < 20 && !acked; ++i) {
    auto m = receive(s.fetcher, std::chrono::milliseconds(50), false);
    acked =
        m && m->message.kind == Kind::Accepted && std::get<Accepted>(m->message.body).batch == waiting.batch;
  }
  EXPECT_FALSE(acked);

  ASSERT_TRUE(s.redis.command({"DEL", marks}).ok());
  auto r = s.report(b.batch, std::chrono::seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->delivered.size(), 2u);
  for (const auto& row : b.rows)
    EXPECT_EQ(s.redis.command({"HEXISTS", marks, row.key})->integer, 1) << row.key;
}

TEST(ShipperService, ForgedAndMalformedBatchesUploadNothingAndTheShipperKeepsWorking) {
  ShipperStack s;
  double malformed0 = Metrics::get().protocol_refused("malformed").Value();
  // Garbage on the wire.
  for (const std::string& garbage : {std::string("[]"), std::string(R"({"batch":1})")}) {
    s.fetcher.send(zmq::buffer(std::string(kProtocolVersion)), zmq::send_flags::sndmore);
    s.fetcher.send(zmq::buffer(std::string("row_batch")), zmq::send_flags::sndmore);
    s.fetcher.send(zmq::buffer(garbage), zmq::send_flags::none);
  }
  // A well-formed batch for a partition that does not exist, and one for a stream that has no table.
  RowBatch forged = s.batch(3, "no-such-partition");
  ASSERT_TRUE(send(s.fetcher, msg(forged)));
  auto r = s.report(forged.batch, std::chrono::seconds(10));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->outcome, Outcome::Refused);
  EXPECT_TRUE(r->delivered.empty());
  RowBatch foreign = s.batch(1);
  foreign.stream = "NoSuchTable_CL";
  ASSERT_TRUE(send(s.fetcher, msg(foreign)));
  auto r2 = s.report(foreign.batch, std::chrono::seconds(10));
  ASSERT_TRUE(r2.has_value());
  EXPECT_EQ(r2->outcome, Outcome::Refused);
  EXPECT_EQ(s.sentinel.rows().size(), 0u) << "nothing forged was uploaded";
  EXPECT_EQ(s.redis.command({"EXISTS", "etp:marks:" + format_day(kTime)})->integer, 0) << "no forged marks";
  EXPECT_GE(Metrics::get().protocol_refused("malformed").Value() - malformed0, 2);

  RowBatch real = s.batch(2);
  ASSERT_TRUE(send(s.fetcher, msg(real)));
  auto ok = s.report(real.batch, std::chrono::seconds(20));
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->outcome, Outcome::Delivered);
  EXPECT_EQ(s.sentinel.rows().size(), 2u);
}

TEST(ShipperService, ABatchSentAgainByAnImpatientFetcherIsUploadedOnce) {
  ShipperStack s;
  s.sentinel.set_faults({{"script", {"503", "503"}}});  // the first upload takes a while (two retries)
  RowBatch b = s.batch(3);
  ASSERT_TRUE(send(s.fetcher, msg(b)));
  ASSERT_TRUE(send(s.fetcher, msg(b)));  // resent while the first copy is still being delivered
  auto r = s.report(b.batch, std::chrono::seconds(20));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->delivered.size(), 3u);
  // Resent once more after it got through (its report was lost, say): answered from the marks, not uploaded.
  ASSERT_TRUE(send(s.fetcher, msg(b)));
  auto again = s.report(b.batch, std::chrono::seconds(20));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->outcome, Outcome::Delivered);
  EXPECT_EQ(again->delivered.size(), 3u);
  EXPECT_EQ(s.sentinel.rows().size(), 3u) << "a resent batch was uploaded twice";
}
