// TokenCache on a fake clock with a fake token endpoint.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <latch>
#include <thread>
#include <vector>

#include "common/log.h"
#include "common/token_cache.h"

using namespace etp2s;

namespace {

constexpr Micros kSecond = kMicrosPerSecond;

struct FetchError {
  std::string message;
};

// A token endpoint issuing "token-<n>" valid for `lifetime` from the fake clock's now, or failing.
struct FakeEndpoint {
  Micros& now;
  Micros lifetime = 3600 * kSecond;
  bool failing = false;
  int calls = 0;
  Result<FreshToken, FetchError> operator()() {
    ++calls;
    if (failing) return err(FetchError{"endpoint unreachable"});
    return FreshToken{Secret("token-" + std::to_string(calls)), now + lifetime};
  }
};

struct CacheFixture : ::testing::Test {
  Micros now = 1'000 * kSecond;
  TokenCache cache{[this] { return now; }};
  FakeEndpoint endpoint{now};
  std::string get() {
    auto t = cache.get([this] { return endpoint(); });
    return t ? t->reveal() : "error: " + t.error().message;
  }
};

}  // namespace

TEST(BearerAuthorization, IsTheSchemeThenTheToken) {
  EXPECT_EQ(bearer_authorization(Secret("abc.def.ghi")), "Bearer abc.def.ghi");
}

// The Redis token source renews 5 minutes early (REDIS_AUTH=entra: every connection must re-AUTH in time).
TEST_F(CacheFixture, ALargerMarginRenewsEarlierButNeverBeforeHalfTheLifetime) {
  cache.set_max_margin(300 * kSecond);
  const Micros start = now;
  EXPECT_EQ(get(), "token-1");
  now = start + 3600 * kSecond - 300 * kSecond - 1;
  EXPECT_EQ(get(), "token-1");
  now += 1;
  EXPECT_EQ(get(), "token-2");
  endpoint.lifetime = 60 * kSecond;  // short-lived: due at half its lifetime
  now += 3600 * kSecond;
  EXPECT_EQ(get(), "token-3");
  now += 30 * kSecond - 1;
  EXPECT_EQ(get(), "token-3");
  now += 1;
  EXPECT_EQ(get(), "token-4");
}

TEST_F(CacheFixture, ALongLivedTokenIsReusedUntilTwoMinutesBeforeExpiry) {
  const Micros start = now;
  EXPECT_EQ(get(), "token-1");
  now = start + 3600 * kSecond - 120 * kSecond - 1;
  EXPECT_EQ(get(), "token-1");
  now += 1;
  EXPECT_EQ(get(), "token-2");
  EXPECT_EQ(cache.fetches(), 2);
}

TEST_F(CacheFixture, AShortLivedTokenIsRefreshedAtHalfItsLifetime) {
  endpoint.lifetime = 60 * kSecond;
  const Micros start = now;
  EXPECT_EQ(get(), "token-1");
  now = start + 30 * kSecond - 1;
  EXPECT_EQ(get(), "token-1");
  now = start + 30 * kSecond;
  EXPECT_EQ(get(), "token-2");
}

TEST_F(CacheFixture, ATokenBornExpiredIsFetchedAgainOnEveryCall) {
  endpoint.lifetime = 0;
  EXPECT_EQ(get(), "token-1");
  EXPECT_EQ(get(), "token-2");
  EXPECT_EQ(endpoint.calls, 2);
}

TEST_F(CacheFixture, InvalidateForcesAFetchOfAStillFreshToken) {
  EXPECT_EQ(get(), "token-1");
  cache.invalidate();
  EXPECT_EQ(get(), "token-2");
  EXPECT_EQ(get(), "token-2");
}

TEST_F(CacheFixture, A401RefreshesOnceUntilATokenIsAcceptedAgain) {
  EXPECT_EQ(get(), "token-1");
  EXPECT_TRUE(cache.refresh_after_unauthorized());
  EXPECT_EQ(get(), "token-2") << "a 401 forces a new token";
  EXPECT_FALSE(cache.refresh_after_unauthorized()) << "a fresh token refused too: a credential problem";
  EXPECT_EQ(get(), "token-2") << "no pointless refresh after the second 401";
  cache.accepted();
  EXPECT_TRUE(cache.refresh_after_unauthorized());
  EXPECT_EQ(get(), "token-3");
}

TEST_F(CacheFixture, AFailedRefreshIsReturnedAndKeepsTheStillValidToken) {
  const Micros start = now;
  EXPECT_EQ(get(), "token-1");
  now = start + 3500 * kSecond;  // due for refresh, not yet expired
  endpoint.failing = true;
  EXPECT_EQ(get(), "error: endpoint unreachable");
  auto kept = cache.unexpired();
  ASSERT_TRUE(kept.has_value());
  EXPECT_EQ(kept->reveal(), "token-1");
  EXPECT_EQ(log::redact("token-1"), "[REDACTED]") << "the kept token is still in use";
  endpoint.failing = false;
  EXPECT_EQ(get(), "token-3") << "the next call tries again";
  now = start + 3600 * kSecond + 3600 * kSecond;
  EXPECT_FALSE(cache.unexpired().has_value()) << "an expired token is never handed out";
}

TEST_F(CacheFixture, EachRefreshReplacesThePreviousTokenInTheRedactor) {
  EXPECT_EQ(get(), "token-1");
  const std::size_t registered = log::registered_secret_count();
  for (int i = 2; i <= 50; ++i) {
    cache.invalidate();
    EXPECT_EQ(get(), "token-" + std::to_string(i));
  }
  EXPECT_EQ(log::registered_secret_count(), registered);
  EXPECT_EQ(log::redact("token-50"), "[REDACTED]");
  EXPECT_EQ(log::redact("token-49"), "token-49");
}

TEST(TokenCache, ConcurrentCallersShareOneFetch) {
  TokenCache cache;  // the real clock: the threads really wait for each other
  std::atomic<int> fetches{0};
  auto slow_fetch = [&]() -> Result<FreshToken, FetchError> {
    ++fetches;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return FreshToken{Secret("shared-token"), now_micros() + 3600 * kSecond};
  };
  constexpr int kThreads = 8;
  std::latch start(kThreads);
  std::vector<std::string> seen(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      auto t = cache.get(slow_fetch);
      seen[static_cast<std::size_t>(i)] = t ? t->reveal() : t.error().message;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(fetches.load(), 1);
  EXPECT_EQ(cache.fetches(), 1);
  for (const auto& s : seen) EXPECT_EQ(s, "shared-token");
}

// A slow token endpoint during the renewal window: while one caller renews, the others are handed the cached
// token (still valid) at once instead of waiting — a slow IMDS must not stall every Redis command and upload.
TEST(TokenCache, WhileOneCallerRenewsADueTokenTheOthersGetTheStillValidOneAtOnce) {
  std::atomic<Micros> now{1'000 * kSecond};
  TokenCache cache([&] { return now.load(); });
  int n = 0;
  auto quick = [&]() -> Result<FreshToken, FetchError> {
    return FreshToken{Secret("token-" + std::to_string(++n)), now.load() + 600 * kSecond};
  };
  ASSERT_EQ(cache.get(quick)->reveal(), "token-1");
  now += 590 * kSecond;  // inside the renewal window, 10 s before expiry
  std::atomic<bool> renewing{false}, release{false};
  std::thread renewer([&] {
    auto t = cache.get([&]() -> Result<FreshToken, FetchError> {
      renewing = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));
      return FreshToken{Secret("token-renewed"), now.load() + 600 * kSecond};
    });
    EXPECT_EQ(t->reveal(), "token-renewed");
  });
  while (!renewing) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // A cache that made the others wait would hand them the renewed token once this lets the renewal finish.
  std::thread watchdog([&] {
    std::this_thread::sleep_for(std::chrono::seconds(2));
    release = true;
  });
  auto other =
      cache.get([&]() -> Result<FreshToken, FetchError> { return err(FetchError{"a second fetch"}); });
  bool renewal_pending = !release.load();
  release = true;
  renewer.join();
  watchdog.join();
  ASSERT_TRUE(other.ok()) << other.error().message;
  EXPECT_EQ(other->reveal(), "token-1") << "waited for the renewal instead of using the valid token";
  EXPECT_TRUE(renewal_pending);
  EXPECT_EQ(cache.get(quick)->reveal(), "token-renewed");
}
