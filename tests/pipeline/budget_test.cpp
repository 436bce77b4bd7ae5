// The shared budget against a real redis-server: the sliding-window invariant across concurrent holders.
#include "common/budget.h"
#include "common/timefmt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "tests/support/process.h"

using namespace etp2s;

namespace {
// Max number of grants within any window of `window_ms` (grants sorted, in ms).
std::size_t max_in_window(std::vector<long long> t, long long window_ms) {
  std::sort(t.begin(), t.end());
  std::size_t best = 0, lo = 0;
  for (std::size_t hi = 0; hi < t.size(); ++hi) {
    while (t[hi] - t[lo] >= window_ms) ++lo;
    best = std::max(best, hi - lo + 1);
  }
  return best;
}
}  // namespace

TEST(Budget, ConcurrentHoldersNeverExceedTheLimitInAnySlidingWindowAndAreSpreadOut) {
  etp2s::testing::RedisServer server;
  const int limit = 10;
  const long long window = 2000;
  std::atomic<bool> stop{false};
  std::atomic<int> granted{0};
  std::vector<std::thread> holders;
  for (int h = 0; h < 4; ++h) {
    holders.emplace_back([&, h] {
      Redis redis(parse_redis_url(server.url()).value());
      Budget budget(redis, {limit, window, "t:"}, "holder-" + std::to_string(h));
      while (!stop) {
        if (budget.acquire("alerts", Priority::Paging, [&] { return stop.load(); })) ++granted;
      }
    });
  }
  // Every grant stays in the Redis log for a whole window, so snapshots every 300 ms see all of them, with
  // the grant times on Redis' own clock (the clock the invariant is defined on).
  std::map<std::string, long long> grants;
  Redis observer(parse_redis_url(server.url()).value());
  for (int i = 0; i < 22; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto r = observer.command({"ZRANGE", "t:alerts", "0", "-1", "WITHSCORES"});
    ASSERT_TRUE(r);
    for (std::size_t k = 0; k + 1 < r->elements.size(); k += 2) {
      grants[r->elements[k].str] = std::stoll(r->elements[k + 1].str);
    }
  }
  stop = true;
  for (auto& t : holders) t.join();
  std::vector<long long> times;
  for (const auto& [member, t] : grants) times.push_back(t);
  ASSERT_GE(times.size(), 25u) << "the budget must still be used";
  EXPECT_GE(static_cast<std::size_t>(granted.load()), times.size());
  EXPECT_LE(max_in_window(times, window), static_cast<std::size_t>(limit));
  std::sort(times.begin(), times.end());
  for (std::size_t i = 1; i < times.size(); ++i) {
    EXPECT_GE(times[i] - times[i - 1], window / limit) << "grants must be spread evenly, not bursty";
  }
}

TEST(Budget, A429PausesTheRouteForEveryHolder) {
  etp2s::testing::RedisServer server;
  Redis r1(parse_redis_url(server.url()).value()), r2(parse_redis_url(server.url()).value());
  Budget a(r1, {60, 61000, "t:"}, "a"), b(r2, {60, 61000, "t:"}, "b");
  EXPECT_EQ(a.try_acquire("alerts", Priority::Paging), 0);
  a.pause("alerts", 3);
  long long wait = b.try_acquire("alerts", Priority::Paging);
  EXPECT_GT(wait, 2000);
  EXPECT_LE(wait, 3000);
  EXPECT_EQ(b.try_acquire("trace", Priority::Paging), 0) << "other routes have their own budget";
}

TEST(Budget, EnrichmentOnlyGetsLeftoverCapacityNeverStarvingPaging) {
  etp2s::testing::RedisServer server;
  Redis r1(parse_redis_url(server.url()).value()), r2(parse_redis_url(server.url()).value());
  Budget pager(r1, {10, 1000, "t:"}, "pager"), enricher(r2, {10, 1000, "t:"}, "enricher");
  // Idle paging: enrichment may use the budget.
  EXPECT_EQ(enricher.try_acquire("alerts", Priority::Enrichment), 0);
  // A paging request that had to wait registers its demand; enrichment then yields to it.
  EXPECT_GT(pager.try_acquire("alerts", Priority::Paging), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(120));
  EXPECT_GT(enricher.try_acquire("alerts", Priority::Enrichment), 0);
  EXPECT_EQ(pager.try_acquire("alerts", Priority::Paging), 0);
}

TEST(Budget, RedisDownGrantsNothing) {
  auto server = std::make_unique<etp2s::testing::RedisServer>();
  Redis r(parse_redis_url(server->url()).value());
  Budget b(r, {60, 61000, "t:"}, "x");
  server->kill9();
  EXPECT_EQ(b.try_acquire("alerts", Priority::Paging), -1);
  std::atomic<int> calls{0};
  EXPECT_FALSE(b.acquire("alerts", Priority::Paging, [&] { return ++calls > 2; }));
}
