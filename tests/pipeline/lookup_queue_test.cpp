// The durable lookup queue (common/lookup_queue.h) against a real redis-server: newest first, one entry per
// id (the newest version wins), bounded with the oldest dropped and counted, and an entry leaves only when
// the version that was looked up is not older than the one queued.
#include "common/lookup_queue.h"

#include <gtest/gtest.h>

#include "tests/support/process.h"

using namespace etp2s;

namespace {
std::vector<std::string> ids(const std::vector<Lookup>& v) {
  std::vector<std::string> out;
  for (const auto& l : v) out.push_back(l.id);
  return out;
}
constexpr Micros kMs = 1000;
}  // namespace

TEST(LookupQueue, NewestFirstOneEntryPerIdAndTheNewestVersionWins) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  LookupQueue q(redis, "etp:", "alert-details", 100);
  ASSERT_EQ(q.enqueue({{"alert-details", "a", 1000 * kMs},
                       {"alert-details", "b", 3000 * kMs},
                       {"alert-details", "c", 2000 * kMs}})
                .value(),
            0);
  EXPECT_EQ(ids(q.newest(10).value()), (std::vector<std::string>{"b", "c", "a"}));
  // The same id again: an older version changes nothing, a newer one moves it (never two entries).
  ASSERT_TRUE(q.enqueue({{"alert-details", "b", 500 * kMs}, {"alert-details", "a", 4000 * kMs}}));
  auto all = q.newest(10).value();
  EXPECT_EQ(ids(all), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(all[0].time_us, 4000 * kMs);
  EXPECT_EQ(all[1].time_us, 3000 * kMs);
  EXPECT_EQ(ids(q.newest(2, 1).value()), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(q.stats().value().length, 3);
}

TEST(LookupQueue, AFullQueueDropsTheOldestAndCountsThem) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  LookupQueue q(redis, "etp:", "alert-details", 3);
  std::vector<Lookup> five;
  for (int i = 1; i <= 5; ++i) five.push_back({"alert-details", "id" + std::to_string(i), i * 1000 * kMs});
  EXPECT_EQ(q.enqueue(five).value(), 2);
  EXPECT_EQ(ids(q.newest(10).value()), (std::vector<std::string>{"id5", "id4", "id3"}));
  auto st = q.stats().value();
  EXPECT_EQ(st.length, 3);
  EXPECT_EQ(st.dropped, 2);
}

TEST(LookupQueue, DoneRemovesOnlyWhatWasLookedUpAndCountsTheDrain) {
  etp2s::testing::RedisServer server;
  Redis redis(parse_redis_url(server.url()).value());
  LookupQueue q(redis, "etp:", "message-trace", 100);
  ASSERT_TRUE(q.enqueue({{"message-trace", "m1", 1000 * kMs}, {"message-trace", "m2", 2000 * kMs}}));
  // m2 was modified while its lookup was in flight: the newer version stays queued.
  ASSERT_TRUE(q.enqueue({{"message-trace", "m2", 5000 * kMs}}));
  ASSERT_TRUE(q.done({{"message-trace", "m1", 1000 * kMs}, {"message-trace", "m2", 2000 * kMs}}));
  auto left = q.newest(10).value();
  ASSERT_EQ(ids(left), (std::vector<std::string>{"m2"}));
  EXPECT_EQ(left[0].time_us, 5000 * kMs);
  ASSERT_TRUE(q.done({{"message-trace", "m2", 5000 * kMs}}, /*not_found=*/true));
  auto st = q.stats().value();
  EXPECT_EQ(st.length, 0);
  EXPECT_EQ(st.not_found, 1);
  EXPECT_GT(st.drained_per_min, 0.0);
}

TEST(LookupQueue, ReportsRedisBeingDownAsAnError) {
  auto q_redis = std::make_unique<etp2s::testing::RedisServer>();
  Redis redis(parse_redis_url(q_redis->url()).value());
  LookupQueue q(redis, "etp:", "alert-details", 100);
  q_redis.reset();  // Redis gone
  EXPECT_FALSE(q.enqueue({{"alert-details", "a", 1}}));
  EXPECT_FALSE(q.newest(1));
  EXPECT_FALSE(q.done({{"alert-details", "a", 1}}));
  EXPECT_FALSE(q.stats());
}
