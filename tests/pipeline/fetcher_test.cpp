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

namespace {

// The real coordinator, etp-sim and redis-server; the test plays the shipper on `shipper`.
struct Harness {
  RedisServer redis;
  sim::EtpSimOptions eo = one_day_of_alerts(600);
  sim::EtpSim etp{eo};
  Config c;
  std::optional<Redis> redis_client;
  std::optional<StateStore> store;
  zmq::socket_t shipper;
  std::atomic<bool> stop{false};
  std::optional<Coordinator> coordinator;
  std::thread coord;

  explicit Harness(int lease_ttl_s) {
    auto cfg =
        load_config(map_env(one_day_env(etp, eo.api_key, redis.url())), ConfigNeeds{true, false, true});
    EXPECT_TRUE(cfg.ok()) << (cfg ? "" : cfg.error());
    c = cfg.value();
    c.coordinator_endpoint = "inproc://fetcher-test-coordinator";
    c.shipper_endpoint = "inproc://fetcher-test-shipper";
    redis_client.emplace(parse_redis_url(redis.url()).value());
    store.emplace(*redis_client);
    shipper = make_socket(zmq::socket_type::router);
    shipper.bind(c.shipper_endpoint);
    coordinator.emplace(c, CoordinatorOptions{c.coordinator_endpoint, lease_ttl_s, kMicrosPerSecond, 5});
    coord = std::thread([this] { coordinator->run(stop); });
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ~Harness() {
    stop = true;
    if (coord.joinable()) coord.join();
  }
  // Every inbound alert id (the only traffic type configured).
  std::set<std::string> truth() const {
    std::set<std::string> out;
    for (const auto& t : etp.truth()) {
      if (t["traffic_type"] == "inbound") out.insert(t["id"].get<std::string>());
    }
    return out;
  }
};

// Alert ids of dedupe keys (etp_message_id|id|last_modified_us).
std::set<std::string> alert_ids(const std::set<std::string>& keys) {
  std::set<std::string> out;
  for (const auto& k : keys) {
    auto a = k.find('|'), b = k.rfind('|');
    out.insert(k.substr(a + 1, b - a - 1));
  }
  return out;
}

}  // namespace

TEST(Fetcher, AnUndeliveredBatchGivesTheLeaseBackAtOnceAndThePartitionIsRedone) {
  const int kLeaseTtlS = 30;  // far longer than a give-back may take
  Harness h(kLeaseTtlS);
  auto& c = h.c;
  auto& shipper = h.shipper;
  auto& store = *h.store;
  auto& coordinator = *h.coordinator;
  auto& stop = h.stop;
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

  ASSERT_TRUE(refused_at.has_value());
  ASSERT_TRUE(redo_after_s.has_value()) << "the refused partition was never redone";
  EXPECT_LT(*redo_after_s, 5.0) << "redone only after " << *redo_after_s << " s (lease TTL " << kLeaseTtlS
                                << " s)";
  EXPECT_TRUE(coordinator.backfill_complete());
  EXPECT_EQ(alert_ids(delivered_keys), h.truth()) << "every alert delivered after the redo";
}

// FETCHER_SLOTS: one fetcher process works two leases at once, each slot under its own worker id, and
// together they deliver every alert once.
TEST(Fetcher, OneFetcherWithTwoSlotsWorksTwoLeasesAtOnce) {
  Harness h(30);
  FetcherOptions fo{"two-slot-fetcher"};
  fo.slots = 2;
  std::thread fetcher([&] { Fetcher(h.c, fo).run(h.stop); });
  std::set<std::string> delivered_keys, senders;
  std::map<std::string, std::string> partition_of;  // sender → the partition of its last batch
  bool concurrent = false;
  auto until = SteadyClock::now() + std::chrono::seconds(60);
  while (SteadyClock::now() < until && !h.coordinator->backfill_complete()) {
    auto m = receive(h.shipper, std::chrono::milliseconds(50), true);
    if (!m || m->message.kind != Kind::RowBatch) continue;
    const auto& b = std::get<RowBatch>(m->message.body);
    send(h.shipper, msg(Accepted{b.batch, "scripted"}), m->identity);
    senders.insert(m->identity);
    partition_of[m->identity] = b.partition;
    concurrent = concurrent || (partition_of.size() == 2 &&
                                partition_of.begin()->second != std::next(partition_of.begin())->second);
    DeliveryReport r{b.batch, "scripted", Outcome::Delivered, {}, {}, ""};
    std::vector<DeliveredVersion> marks;
    for (const auto& row : b.rows) {
      marks.push_back({row.key, row.time_us});
      r.delivered.push_back(row.key);
      EXPECT_TRUE(delivered_keys.insert(row.key).second) << "delivered twice: " << row.key;
    }
    ASSERT_TRUE(h.store->mark_delivered(marks).ok());
    send(h.shipper, msg(std::move(r)), m->identity);
  }
  h.stop = true;
  fetcher.join();
  EXPECT_TRUE(h.coordinator->backfill_complete());
  EXPECT_EQ(senders, (std::set<std::string>{"two-slot-fetcher/0", "two-slot-fetcher/1"}));
  EXPECT_TRUE(concurrent) << "the two slots never held different partitions";
  EXPECT_EQ(alert_ids(delivered_keys), h.truth());
}

// One coordinator serves a plan at a time (several Function App instances each run every role): a second one
// stands by — its fetchers are told to wait — and takes over as soon as the first stops.
TEST(Coordinator, ASecondCoordinatorStandsByAndTakesOverWhenTheFirstStops) {
  Harness h(30);
  Config c2 = h.c;
  c2.coordinator_endpoint = "inproc://second-coordinator";
  std::atomic<bool> stop2{false};
  Coordinator second(c2, CoordinatorOptions{c2.coordinator_endpoint, 30, kMicrosPerSecond, 5});
  std::thread t2([&] { second.run(stop2); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  zmq::socket_t asker = make_socket(zmq::socket_type::dealer);
  asker.set(zmq::sockopt::routing_id, std::string("asker"));
  asker.connect(c2.coordinator_endpoint);
  auto ask = [&] {
    send(asker, msg(WantWork{"asker"}));
    auto r = receive(asker, std::chrono::seconds(3), false);
    return r ? std::optional<Kind>(r->message.kind) : std::nullopt;
  };
  auto serving = h.store->coordinator_lock_holder();
  ASSERT_TRUE(serving.has_value());
  EXPECT_EQ(ask(), Kind::NoWork) << "the standby grants nothing";
  EXPECT_EQ(h.store->coordinator_lock_holder(), serving) << "the first keeps serving";
  h.stop = true;  // the first stops and releases the lock
  h.coord.join();
  bool took_over = false;
  for (int i = 0; i < 20 && !took_over; ++i) took_over = ask() == Kind::Lease;
  EXPECT_TRUE(took_over) << "the standby never took over";
  EXPECT_NE(h.store->coordinator_lock_holder(), serving);
  stop2 = true;
  t2.join();
  EXPECT_FALSE(h.store->coordinator_lock_holder().has_value()) << "released on a clean stop";
}
