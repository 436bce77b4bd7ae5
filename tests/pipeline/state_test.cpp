// Checkpoints and dedupe marks against a real redis-server.
#include "common/state.h"

#include <gtest/gtest.h>

#include "common/fingerprint.h"
#include "common/metrics.h"
#include "tests/support/process.h"

using namespace etp2s;

namespace {
Partition part(const std::string& id) {
  Partition p;
  p.id = id;
  p.traffic_type = "inbound";
  p.start_us = 1000 * kMicrosPerSecond;
  p.cursor = format_vendor(p.start_us);
  return p;
}
}  // namespace

TEST(State, CommitsAreGuardedByTheLeaseEpochAndMarksAreWrittenOnlyOnCommit) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  ASSERT_TRUE(store.create_plan({part("p1")}, 1));
  auto parts = store.partitions().value();
  parts[0].epoch = 2;
  parts[0].state = PartitionState::Leased;
  ASSERT_TRUE(store.save_lease(parts[0]));

  const Micros recent = now_micros() - kMicrosPerDay;
  std::vector<DeliveredVersion> v = {{"m|a|1", recent}, {"m|b|2", recent - kMicrosPerDay}};
  EXPECT_EQ(store.delivered(v).value(), (std::vector<bool>{false, false}));
  // A stale epoch writes nothing.
  EXPECT_FALSE(store.commit("p1", 1, "2023-01-01T00:00:00.000", v, false, "").value());
  EXPECT_EQ(store.delivered(v).value(), (std::vector<bool>{false, false}));
  EXPECT_EQ(store.partitions().value()[0].cursor, format_vendor(1000 * kMicrosPerSecond));
  // The current epoch writes marks and the cursor together.
  EXPECT_TRUE(store.commit("p1", 2, "2023-01-01T00:00:00.000", v, true, "").value());
  EXPECT_EQ(store.delivered(v).value(), (std::vector<bool>{true, true}));
  auto p = store.partitions().value()[0];
  EXPECT_EQ(p.cursor, "2023-01-01T00:00:00.000");
  EXPECT_EQ(p.delivered, 2);
  EXPECT_GT(p.caught_up_us, 0);
  // A commit without a cursor (a late-arrival sweep) leaves the committed cursor alone.
  EXPECT_TRUE(store.commit("p1", 2, "", {}, false, "2023-01-01T00:00:00.000").value());
  EXPECT_EQ(store.partitions().value()[0].delivered, 2);
  EXPECT_EQ(store.partitions().value()[0].sweep_cursor, "2023-01-01T00:00:00.000");
  EXPECT_EQ(store.partitions().value()[0].cursor, "2023-01-01T00:00:00.000");
  // Marks expire with the 90-day window.
  auto ttl = redis.command({"TTL", "etp:marks:" + format_day(recent)});
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 88 * 86400);
  EXPECT_LE(ttl->integer, 91 * 86400);
  // Versions older than the vendor's 90 days are not kept at all.
  Micros ancient = now_micros() - 100 * kMicrosPerDay;
  EXPECT_TRUE(store.commit("p1", 2, "", {{"old", ancient}}, false, "").value());
  EXPECT_EQ(store.delivered({{"old", ancient}}).value(), (std::vector<bool>{false}));
  // The shipper's marks, written as soon as Azure accepted, are seen by every fetcher.
  ASSERT_TRUE(store.mark_delivered({{"m|c|3", recent}}));
  EXPECT_EQ(store.delivered({{"m|c|3", recent}}).value(), (std::vector<bool>{true}));
}

TEST(State, ASplitEndsThePartitionAndAddsItsRemainderOnlyWhileNobodyReadsIt) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  Partition p = part("inbound-00@a.test");
  p.source = "alerts-v2";
  p.domain = "a.test";
  p.end_us = 5000 * kMicrosPerSecond;
  ASSERT_TRUE(store.create_plan({p}, 1));
  auto pieces = [&] {
    std::vector<Partition> out;
    for (Micros at : {3000, 4000}) {
      Partition q;
      q.id = "inbound-00@a.test+" + std::to_string(at);
      q.start_us = at * kMicrosPerSecond;
      q.end_us = (at + 1000) * kMicrosPerSecond;
      q.cursor = format_vendor(*q.end_us - 1000 * kMicrosPerSecond);
      out.push_back(q);
    }
    return out;
  }();
  // Leased (somebody reads it): refused, nothing changes.
  auto seen = store.partitions().value()[0];
  seen.state = PartitionState::Leased;
  seen.epoch = 1;
  ASSERT_TRUE(store.save_lease(seen));
  EXPECT_FALSE(store.split_partition(seen, pieces).value());
  // Pending again, but leased and given back once more since the caller looked (epoch 2, same cursor).
  seen.state = PartitionState::Pending;
  auto older = seen;
  seen.epoch = 2;
  ASSERT_TRUE(store.save_lease(seen));
  EXPECT_FALSE(store.split_partition(older, pieces).value());
  // Given back (pending, epoch 2) but its cursor moved since the caller looked: refused.
  seen.state = PartitionState::Pending;
  seen.epoch = 2;
  ASSERT_TRUE(store.save_lease(seen));
  ASSERT_TRUE(store.commit(seen.id, 2, format_vendor(2000 * kMicrosPerSecond), {}, false, "").value());
  EXPECT_FALSE(store.split_partition(seen, pieces).value());
  ASSERT_EQ(store.partitions().value().size(), 1u);
  EXPECT_EQ(store.partitions().value()[0].end_us, 5000 * kMicrosPerSecond);
  // As seen: split in one step; the pieces inherit source, traffic type and domain, and start unread (at
  // the start cursor their source gives).
  seen = store.partitions().value()[0];
  ASSERT_TRUE(store.split_partition(seen, pieces).value());
  auto after = store.partitions().value();
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0].end_us, 3000 * kMicrosPerSecond);
  EXPECT_EQ(after[0].cursor, format_vendor(2000 * kMicrosPerSecond));
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(after[i].id, pieces[i - 1].id);
    EXPECT_EQ(after[i].source, "alerts-v2");
    EXPECT_EQ(after[i].traffic_type, "inbound");
    EXPECT_EQ(after[i].domain, "a.test");
    EXPECT_EQ(after[i].start_us, pieces[i - 1].start_us);
    EXPECT_EQ(after[i].end_us, pieces[i - 1].end_us);
    EXPECT_EQ(after[i].cursor, pieces[i - 1].cursor);
    EXPECT_EQ(after[i].state, PartitionState::Pending);
    EXPECT_EQ(after[i].epoch, 0);
  }
}

TEST(State, AHeadStillCatchingUpIsSplitIntoABoundedPartitionAndANewHead) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  ASSERT_TRUE(store.create_plan({part("inbound-03")}, 1));  // open-ended
  auto head = store.partitions().value()[0];
  ASSERT_TRUE(head.live());
  Partition next;
  next.id = "inbound-03+3000";
  next.start_us = 3000 * kMicrosPerSecond;
  next.cursor = format_vendor(next.start_us);  // no end: the new head
  ASSERT_TRUE(store.split_partition(head, {next}).value());
  auto after = store.partitions().value();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_FALSE(after[0].live());
  EXPECT_EQ(after[0].end_us, 3000 * kMicrosPerSecond);
  EXPECT_TRUE(after[1].live());
  EXPECT_EQ(after[1].start_us, 3000 * kMicrosPerSecond);
  EXPECT_EQ(after[1].cursor, next.cursor);
}

TEST(State, SurvivesARedisRestartThroughTheAppendOnlyFile) {
  const Micros t = now_micros();
  std::string dir = etp2s::testing::temp_dir("etp2s-aof");
  auto server = std::make_unique<etp2s::testing::RedisServer>(dir);
  int port = server->port();
  {
    Redis redis(parse_redis_url(server->url()).value());
    StateStore store(redis);
    ASSERT_TRUE(store.create_plan({part("p1")}, 1));
    ASSERT_TRUE(store.commit("p1", 0, "2024-05-05T05:05:05.005", {{"k", t}}, false, "").value());
  }
  server->kill9();
  server.reset();
  // Same directory, same port: the AOF brings the state back.
  etp2s::testing::Process again({"/usr/bin/redis-server", "--port", std::to_string(port), "--bind",
                                 "127.0.0.1", "--dir", dir, "--appendonly", "yes", "--save", ""},
                                {}, dir + "/redis2.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Redis redis(parse_redis_url("redis://127.0.0.1:" + std::to_string(port) + "/0").value());
  StateStore store(redis);
  auto parts = store.partitions();
  ASSERT_TRUE(parts) << parts.error();
  EXPECT_EQ(parts.value()[0].cursor, "2024-05-05T05:05:05.005");
  EXPECT_EQ(store.delivered({{"k", t}}).value(), (std::vector<bool>{true}));
}

TEST(State, GapsAreReadBackWithTheirInstantCountAndTimeAndGarbageIsSkipped) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  EXPECT_EQ(store.gap_count().value(), 0);
  EXPECT_TRUE(store.gaps().value().empty());
  // An entry as written before recorded_us existed, one that is not JSON, and one written now.
  ASSERT_TRUE(redis.command({"RPUSH", "etp:gaps",
                             R"({"partition":"inbound-00","at":"2026-01-02T03:04:05.006","seen":200,)"
                             R"("recorded":"2026-01-03T00:00:00.000Z"})"}));
  ASSERT_TRUE(redis.command({"RPUSH", "etp:gaps", "not json"}));
  const Micros before = now_micros();
  ASSERT_TRUE(store.record_gap("outbound-01", "2026-02-03T04:05:06.007", 200));
  EXPECT_EQ(store.gap_count().value(), 3);
  auto gaps = store.gaps().value();
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].partition, "inbound-00");
  EXPECT_EQ(gaps[0].at, "2026-01-02T03:04:05.006");
  EXPECT_EQ(gaps[0].seen, 200);
  EXPECT_EQ(gaps[0].recorded_us, *parse_time("2026-01-03T00:00:00.000Z"));
  EXPECT_EQ(gaps[1].partition, "outbound-01");
  EXPECT_EQ(gaps[1].at, "2026-02-03T04:05:06.007");
  EXPECT_GE(gaps[1].recorded_us, before);
  EXPECT_LE(gaps[1].recorded_us, now_micros());
  EXPECT_EQ(store.dead_letter_count().value(), 0);
  ASSERT_TRUE(store.dead_letter("Custom-FireEyeETPAlerts_CL", "k1", "HTTP 413 alone", "{}"));
  EXPECT_EQ(store.dead_letter_count().value(), 1);
}

TEST(State, SetAsideListsAreCappedAndAgedAndEveryDropIsCounted) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis, "etp:", StateListLimits{{3, 3600}, {2, 60}});
  auto& m = Metrics::get();
  const double capped_before = m.state_list_dropped("gaps", "over_cap").Value();
  const double expired_before = m.state_list_dropped("dead_letters", "expired").Value();
  // Cap: the newest 3 gaps are kept, the 2 oldest dropped and counted (in Redis and as a metric).
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store.record_gap("p", "2026-01-01T00:00:00.00" + std::to_string(i), 200));
  EXPECT_EQ(store.gap_count().value(), 3);
  auto gaps = store.gaps().value();
  ASSERT_EQ(gaps.size(), 3u);
  EXPECT_EQ(gaps.front().at, "2026-01-01T00:00:00.002");
  EXPECT_EQ(gaps.back().at, "2026-01-01T00:00:00.004");
  EXPECT_EQ(store.gap_drops()->over_cap, 2);
  EXPECT_EQ(store.gap_drops()->expired, 0);
  EXPECT_EQ(m.state_list_dropped("gaps", "over_cap").Value() - capped_before, 2);
  // TTL: the list expires a TTL after its last write.
  auto ttl = redis.command({"TTL", "etp:gaps"});
  EXPECT_GT(ttl->integer, 3500);
  EXPECT_LE(ttl->integer, 3600);
  // Age: a dead letter recorded two minutes ago (TTL 60 s) goes at the next write...
  const std::string old_entry = R"({"key":"old","row":"{}","recorded_us":)" +
                                std::to_string(now_micros() - 120 * kMicrosPerSecond) + "}";
  ASSERT_TRUE(redis.command({"RPUSH", "etp:deadletter", old_entry}));
  ASSERT_TRUE(store.dead_letter("Custom-FireEyeETPAlerts_CL", "new", "HTTP 413 even alone", "{}"));
  EXPECT_EQ(store.dead_letter_count().value(), 1);
  EXPECT_EQ(store.dead_letter_drops()->expired, 1);
  // ... and without one, when the lists are trimmed (every few seconds by the coordinator).
  ASSERT_TRUE(redis.command({"RPUSH", "etp:deadletter", old_entry}));
  ASSERT_TRUE(redis.command({"LMOVE", "etp:deadletter", "etp:deadletter", "RIGHT", "LEFT"}));  // oldest first
  EXPECT_EQ(store.dead_letter_count().value(), 2);
  ASSERT_TRUE(store.expire_old_list_entries());
  EXPECT_EQ(store.dead_letter_count().value(), 1);
  EXPECT_EQ(store.dead_letter_drops()->expired, 2);
  EXPECT_EQ(m.state_list_dropped("dead_letters", "expired").Value() - expired_before, 2);
  // A recent entry is never aged out, and the cap holds for dead letters too.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store.dead_letter("s", "k" + std::to_string(i), "why", "{}"));
  EXPECT_EQ(store.dead_letter_count().value(), 2);
  EXPECT_EQ(store.dead_letter_drops()->over_cap, 2);
  // Without limits of its own a store uses the process's (set from the configuration at start).
  set_default_list_limits({{1, 60}, {1, 60}});
  StateStore defaults(redis);
  ASSERT_TRUE(defaults.record_gap("p", "2026-01-01T00:00:00.009", 200));
  EXPECT_EQ(store.gap_count().value(), 1);
  set_default_list_limits({});
}

// One state, one configuration (common/fingerprint.h): another vendor URL or plan is refused with the
// differences named, a rotated key is followed, PLAN_ADOPT moves the claim; the key never reaches Redis.
TEST(State, TheStateIsClaimedForOneVendorAndPlanAndAnotherIsRefused) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  StateStore store(redis);
  std::atomic<bool> stop{false};
  Config trial;
  trial.etp_base_url = "http://127.0.0.1:8080/";
  trial.etp_api_key = Secret("trial-key-0123456789abcdef");
  Config prod = trial;
  prod.etp_base_url = "https://etp.us.fireeye.com";
  prod.etp_api_key = Secret("production-key-0123456789abcdef");

  EXPECT_EQ(claim_state(store, "vendor", vendor_fingerprint(trial), trial, stop).value(), Claim::Ours);
  EXPECT_EQ(claim_state(store, "vendor", vendor_fingerprint(trial), trial, stop).value(), Claim::Ours);
  auto differs = store.claim_fingerprint("vendor", vendor_fingerprint(prod), false).value();
  ASSERT_EQ(differs.size(), 2u);  // in field order: credential, vendor
  EXPECT_EQ(differs[0], "credential: another credential");
  EXPECT_EQ(differs[1], R"(vendor: stored "http://127.0.0.1:8080", now "https://etp.us.fireeye.com")");
  EXPECT_EQ(claim_state(store, "vendor", vendor_fingerprint(prod), prod, stop).value(), Claim::Refused);
  auto raw = redis.command({"HGET", "etp:fingerprint", "vendor"});
  ASSERT_TRUE(raw);
  EXPECT_EQ(raw->str.find("trial-key"), std::string::npos) << raw->str;
  EXPECT_NE(raw->str.find("127.0.0.1:8080\""), std::string::npos) << "a trailing / is not a difference";

  // The same vendor with a rotated key: followed (and the claim moves to the new key).
  Config rotated = trial;
  rotated.etp_api_key = Secret("trial-key-rotated-0123456789");
  EXPECT_EQ(claim_state(store, "vendor", vendor_fingerprint(rotated), rotated, stop).value(),
            Claim::CredentialChanged);
  EXPECT_TRUE(store.claim_fingerprint("vendor", vendor_fingerprint(rotated), false).value().empty());

  // Another window: refused; with PLAN_ADOPT=1 adopted, and from then on this configuration's.
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(trial), trial, stop).value(), Claim::Ours);
  Config wider = trial;
  wider.etp_backfill_days = 30;
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(wider), wider, stop).value(), Claim::Refused);
  wider.plan_adopt = true;
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(wider), wider, stop).value(), Claim::Adopted);
  wider.plan_adopt = false;
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(wider), wider, stop).value(), Claim::Ours);
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(trial), trial, stop).value(), Claim::Refused);
  // Domains and traffic types are compared as sets.
  Config reordered = wider;
  reordered.etp_traffic_types = {"outbound", "inbound"};
  EXPECT_EQ(claim_state(store, "plan", plan_fingerprint(reordered), reordered, stop).value(), Claim::Ours);
}
