#include "common/budget.h"

#include <algorithm>

#include <chrono>
#include <thread>

#include "common/log.h"
#include "common/metrics.h"

namespace etp2s {
namespace {

// KEYS: grants log (zset), pause key, paging waiters (zset). ARGV: limit, window, spacing, member, priority,
// holder.
const char* kAcquire = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, window, spacing = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local priority = tonumber(ARGV[5])
local function wait(ms)
  if priority == 0 then redis.call('ZADD', KEYS[3], now, ARGV[6]); redis.call('PEXPIRE', KEYS[3], 10000) end
  return ms
end
local pause = tonumber(redis.call('GET', KEYS[2]) or '0')
if now < pause then return wait(pause - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return wait(math.max(1, tonumber(oldest[2]) + window - now + 1))
end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if #last > 0 then
  local gap = tonumber(last[2]) + spacing - now
  if gap > 0 then return wait(gap) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - 3000)
if priority > 0 and redis.call('ZCARD', KEYS[3]) > 0 then return spacing end
redis.call('ZREM', KEYS[3], ARGV[6])
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window * 2)
return 0
)lua";

const char* kPause = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilms = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if untilms > cur then redis.call('SET', KEYS[1], untilms, 'PX', tonumber(ARGV[1]) + 1000) end
return untilms
)lua";

const char* kUsed = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], now - tonumber(ARGV[1]) + 1, '+inf')
)lua";

}  // namespace

Budget::Budget(Redis& redis, BudgetOptions options, std::string holder_id)
    : redis_(redis),
      opt_(std::move(options)),
      holder_(std::move(holder_id)),
      spacing_ms_((opt_.window_ms + opt_.limit_per_window - 1) / opt_.limit_per_window) {}

long long Budget::try_acquire(const std::string& route, Priority priority) {
  std::string member = holder_ + ":" + std::to_string(++seq_);
  auto r = redis_.eval(
      kAcquire, {opt_.prefix + route, opt_.prefix + route + ":pause", opt_.prefix + route + ":waiting"},
      {std::to_string(opt_.limit_per_window), std::to_string(opt_.window_ms), std::to_string(spacing_ms_),
       member, std::to_string(static_cast<int>(priority)), holder_});
  if (!r) {
    log::warn("budget.redis_error", {{"error", r.error()}});
    return -1;
  }
  return r->integer;
}

bool Budget::acquire(const std::string& route, Priority priority, const std::function<bool()>& stop) {
  const auto started = std::chrono::steady_clock::now();
  auto waited = [&] {
    Metrics::get().budget_wait(route).Increment(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  };
  while (!stop()) {
    long long wait = try_acquire(route, priority);
    if (wait == 0) {
      waited();
      return true;
    }
    // Redis unreachable: no permit can be proven, so none is taken; try again shortly.
    long long ms = wait < 0 ? 500 : std::min<long long>(wait, 1000);
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  waited();
  return false;
}

void Budget::pause(const std::string& route, double seconds) {
  // The pause holds every process on this route and survives restarts: a hostile or broken Retry-After
  // (999999999 s) must not stop collection for decades. Clamped, and the applied pause is logged.
  double applied = std::clamp(seconds, 0.0, kMaxPauseS);
  if (applied != seconds)
    log::warn("budget.retry_after_clamped", {{"route", route}, {"asked_s", seconds}, {"applied_s", applied}});
  auto r = redis_.eval(kPause, {opt_.prefix + route + ":pause"},
                       {std::to_string(static_cast<long long>(applied * 1000))});
  if (!r) log::warn("budget.redis_error", {{"error", r.error()}});
}

long long Budget::used(const std::string& route) {
  auto r = redis_.eval(kUsed, {opt_.prefix + route}, {std::to_string(opt_.window_ms)});
  return r ? r->integer : -1;
}

long long Budget::waiting(const std::string& route, long long ms) {
  // A waiter is registered (with the time) each time it is told to wait, and removed when granted.
  auto r = redis_.eval(kUsed, {opt_.prefix + route + ":waiting"}, {std::to_string(ms)});
  return r ? r->integer : -1;
}

}  // namespace etp2s
