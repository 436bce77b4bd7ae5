#pragma once
// The customer-wide request budget: never more than `limit` requests per route in any sliding window, across
// all processes, spread evenly (see docs/design.md). One Lua script in Redis decides, on Redis' clock.
#include <atomic>
#include <functional>
#include <string>

#include "common/redis.h"

namespace etp2s {

enum class Priority { Paging = 0, Enrichment = 1 };

inline constexpr double kMaxPauseS = 300;  // the longest a vendor's Retry-After may pause a route

struct BudgetOptions {
  int limit_per_window = 60;
  long long window_ms = 61'000;  // 60 s plus a 1 s margin for the jitter between our clock and the vendor's
  std::string prefix = "etp:budget:";
};

class Budget {
 public:
  Budget(Redis& redis, BudgetOptions options, std::string holder_id);
  // Waits until a permit for `route` is granted; false if stop became true (or Redis stayed unreachable).
  bool acquire(const std::string& route, Priority priority, const std::function<bool()>& stop);
  // One attempt: 0 = granted, else milliseconds to wait; -1 = Redis error.
  long long try_acquire(const std::string& route, Priority priority);
  // The vendor said 429: no grant on this route for `seconds` (at most kMaxPauseS).
  void pause(const std::string& route, double seconds);
  long long spacing_ms() const { return spacing_ms_; }
  // Permits granted in the current window (for metrics and status).
  long long used(const std::string& route);
  // Paging requesters (fetchers) that had to wait for a permit on `route` within the last `ms` milliseconds
  // and have not been granted one since; -1: Redis did not answer.
  long long waiting(const std::string& route, long long ms);

 private:
  Redis& redis_;
  BudgetOptions opt_;
  std::string holder_;
  long long spacing_ms_;
  std::atomic<unsigned long long> seq_{0};
};

}  // namespace etp2s
