#include "common/lookup_queue.h"

#include <algorithm>

namespace etp2s {
namespace {

constexpr long long kDrainWindowMs = 5 * 60 * 1000;

// KEYS: queue, dropped counter. ARGV: capacity, then (score, member) pairs. Returns entries dropped now.
const char* kEnqueue = R"lua(
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i], ARGV[i + 1]) end
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if over > 0 then
  redis.call('ZPOPMIN', KEYS[1], over)
  redis.call('INCRBY', KEYS[2], over)
  return over
end
return 0
)lua";

// KEYS: queue, drained log (zset of completion times), not-found counter. ARGV: not_found flag, the drain
// log's window (ms), then (score, member) pairs: removed only while the queued score is not newer.
const char* kDone = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = 0
for i = 3, #ARGV, 2 do
  local s = redis.call('ZSCORE', KEYS[1], ARGV[i + 1])
  if s and tonumber(s) <= tonumber(ARGV[i]) then redis.call('ZREM', KEYS[1], ARGV[i + 1]) end
  redis.call('ZADD', KEYS[2], now, ARGV[i + 1] .. '@' .. ARGV[i])
  n = n + 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]))
if ARGV[1] == '1' then redis.call('INCRBY', KEYS[3], n) end
return n
)lua";

std::string score_of(Micros t) {
  return std::to_string(t / 1000);
}

}  // namespace

LookupQueue::LookupQueue(Redis& redis, std::string prefix, std::string name, long long capacity)
    : redis_(redis), prefix_(std::move(prefix)), name_(std::move(name)), capacity_(std::max(1LL, capacity)) {}

Result<long long, std::string> LookupQueue::enqueue(const std::vector<Lookup>& entries) {
  if (entries.empty()) return 0LL;
  std::vector<std::string> args{std::to_string(capacity_)};
  for (const auto& e : entries) {
    args.push_back(score_of(e.time_us));
    args.push_back(e.id);
  }
  auto r = redis_.eval(kEnqueue, {key(), key(":dropped")}, args);
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  return r->integer;
}

Result<std::vector<Lookup>, std::string> LookupQueue::newest(std::size_t n, std::size_t skip) {
  auto r =
      redis_.command({"ZREVRANGE", key(), std::to_string(skip), std::to_string(skip + n - 1), "WITHSCORES"});
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  std::vector<Lookup> out;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2) {
    Micros ms = 0;
    try {
      ms = std::stoll(r->elements[i + 1].str);
    } catch (...) {
      ms = 0;  // a score we did not write: looked up for "any version"
    }
    out.push_back({name_, r->elements[i].str, ms * 1000});
  }
  return out;
}

Result<Unit, std::string> LookupQueue::done(const std::vector<Lookup>& entries, bool not_found) {
  if (entries.empty()) return Unit{};
  std::vector<std::string> args{not_found ? "1" : "0", std::to_string(kDrainWindowMs)};
  for (const auto& e : entries) {
    args.push_back(score_of(e.time_us));
    args.push_back(e.id);
  }
  auto r = redis_.eval(kDone, {key(), key(":drained"), key(":not_found")}, args);
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  return Unit{};
}

Result<QueueStats, std::string> LookupQueue::stats() {
  auto r =
      redis_.pipeline({{"ZCARD", key()}, {"GET", key(":dropped")}, {"GET", key(":not_found")}, {"TIME"}});
  if (!r) return err(r.error());
  for (const auto& reply : r.value()) {
    if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
  }
  auto to_ll = [](const std::string& s) {
    try {
      return s.empty() ? 0LL : std::stoll(s);
    } catch (...) {
      return 0LL;
    }
  };
  QueueStats s;
  s.length = r.value()[0].integer;
  s.dropped = to_ll(r.value()[1].str);
  s.not_found = to_ll(r.value()[2].str);
  const auto& t = r.value()[3].elements;
  if (t.size() == 2) {
    long long now_ms = to_ll(t[0].str) * 1000 + to_ll(t[1].str) / 1000;
    // Over the last 5 minutes, or since the first completion in them (a drain that just began is not
    // diluted).
    auto c = redis_.pipeline({{"ZCOUNT", key(":drained"), std::to_string(now_ms - kDrainWindowMs), "+inf"},
                              {"ZRANGEBYSCORE", key(":drained"), std::to_string(now_ms - kDrainWindowMs),
                               "+inf", "WITHSCORES", "LIMIT", "0", "1"}});
    if (c && c.value()[0].type == RedisReply::Type::Integer && c.value()[1].elements.size() == 2) {
      long long first = to_ll(c.value()[1].elements[1].str);
      long long span_ms = std::clamp(now_ms - first, 10'000LL, kDrainWindowMs);
      s.drained_per_min = static_cast<double>(c.value()[0].integer) * 60'000.0 / static_cast<double>(span_ms);
    }
  }
  return s;
}

}  // namespace etp2s
