// The fetcher against the real coordinator, etp-sim and redis-server, with a scripted shipper on the other
// end of the socket: a batch that was not delivered hands its lease back at once (the partition is redone
// long before the lease would have expired), and nothing is lost or committed past it.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <thread>

#include "common/protocol.h"
#include "common/state.h"
#include "coordinator/coordinator.h"
#include "fetcher/fetcher.h"
#include "sim/etp/etp_sim.h"
#include "tests/support/one_day.h"
#include "tests/support/process.h"

using namespace etp2s;
using namespace etp2s::testing;
using SteadyClock = std::chrono::steady_clock;

TEST(Fetcher, AnUndeliveredBatchGivesTheLeaseBackAtOnceAndThePartitionIsRedone) {
  RedisServer redis;
  sim::EtpSimOptions eo = one_day_of_alerts(600);
  sim::EtpSim etp(eo);
  auto cfg = load_config(map_env(one_day_env(etp, eo.api_key, redis.url())), ConfigNeeds{true, false, true});
  ASSERT_TRUE(cfg.ok()) << cfg.error();
  Config c = cfg.value();
  c.coordinator_endpoint = "inproc://fetcher-test-coordinator";
  c.shipper_endpoint = "inproc://fetcher-test-shipper";
  const int kLeaseTtlS = 30;  // far longer than a give-back may take

  Redis redis_client(parse_redis_url(redis.url()).value());
  StateStore store(redis_client);
  zmq::socket_t shipper = make_socket(zmq::socket_type::router);
  shipper.bind(c.shipper_endpoint);
  std::atomic<bool> stop{false};
  Coordinator coordinator(c, {c.coordinator_endpoint, kLeaseTtlS, kMicrosPerSecond, 5});
  std::thread coord([&] { coordinator.run(stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::thread fetcher([&] { Fetcher(c, {"fetcher-under-test"}).run(stop); });

  // The scripted shipper: refuses the first batch (nothing delivered), delivers everything after that.
  std::set<std::string> delivered_keys;
  std::size_t rows_seen = 0;
  std::optional<SteadyClock::time_point> refused_at;
  std::optional<double> redo_after_s;
  std::string refused_partition;
  long long refused_epoch = 0;
  auto until = SteadyClock::now() + std::chrono::seconds(60);
  while (SteadyClock::now() < until && !coordinator.backfill_complete()) {
    auto m = receive(shipper, std::chrono::milliseconds(50), true);
    if (!m || m->message.kind != Kind::RowBatch) continue;
    const auto& b = std::get<RowBatch>(m->message.body);
    send(shipper, msg(Accepted{b.batch, "scripted"}), m->identity);
    rows_seen += b.rows.size();
    DeliveryReport r{b.batch, "scripted", Outcome::Delivered, {}, {}, ""};
    if (!refused_at && !b.rows.empty()) {
      refused_at = SteadyClock::now();
      refused_partition = b.partition;
      refused_epoch = b.epoch;
      r.outcome = Outcome::RetryLater;
      r.error = "scripted: not delivered";
    } else {
      if (refused_at && !redo_after_s && b.partition == refused_partition && b.epoch > refused_epoch)
        redo_after_s = std::chrono::duration<double>(SteadyClock::now() - *refused_at).count();
      std::vector<DeliveredVersion> marks;
      for (const auto& row : b.rows) marks.push_back({row.key, row.time_us});
      ASSERT_TRUE(store.mark_delivered(marks).ok());  // as the real shipper does, the moment Azure accepts
      for (const auto& row : b.rows) {
        r.delivered.push_back(row.key);
        EXPECT_TRUE(delivered_keys.insert(row.key).second) << "delivered twice: " << row.key;
      }
    }
    send(shipper, msg(std::move(r)), m->identity);
  }
  stop = true;
  fetcher.join();
  coord.join();

  ASSERT_TRUE(refused_at.has_value());
  ASSERT_TRUE(redo_after_s.has_value()) << "the refused partition was never redone";
  EXPECT_LT(*redo_after_s, 5.0) << "redone only after " << *redo_after_s << " s (lease TTL " << kLeaseTtlS
                                << " s)";
  EXPECT_TRUE(coordinator.backfill_complete());
  std::set<std::string> truth;
  for (const auto& t : etp.truth()) {
    if (t["traffic_type"] == "inbound") truth.insert(t["id"].get<std::string>());  // the only type configured
  }
  std::set<std::string> delivered_ids;  // keys are etp_message_id|id|last_modified_us
  for (const auto& k : delivered_keys) {
    auto a = k.find('|'), b = k.rfind('|');
    delivered_ids.insert(k.substr(a + 1, b - a - 1));
  }
  EXPECT_EQ(delivered_ids, truth) << "every alert delivered after the redo";
}
