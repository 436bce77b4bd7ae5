#include "common/state.h"

#include <algorithm>
#include <array>
#include <map>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/metrics.h"

namespace etp2s {
namespace {

constexpr Micros kMarkRetention = 91 * kMicrosPerDay;  // the vendor keeps 90 days

// KEYS[1] = partition hash. ARGV: epoch, cursor, caught_up_us, sweep_cursor, n, then n × (marks key, field,
// expireat).
const char* kCommit = R"lua(
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if tostring(epoch) ~= ARGV[1] then return 0 end
local n = tonumber(ARGV[5])
for i = 0, n - 1 do
  local k, f, exp = ARGV[6 + i * 3], ARGV[7 + i * 3], ARGV[8 + i * 3]
  redis.call('HSETNX', k, f, '1')
  redis.call('EXPIREAT', k, exp)
end
if n > 0 then redis.call('HINCRBY', KEYS[1], 'delivered', n) end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'cursor', ARGV[2]) end
if ARGV[3] ~= '0' then redis.call('HSET', KEYS[1], 'caught_up_us', ARGV[3]) end
if ARGV[4] == '-' then redis.call('HSET', KEYS[1], 'sweep_cursor', '')
elseif ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'sweep_cursor', ARGV[4]) end
return 1
)lua";

// KEYS[1] = the partition split, KEYS[2] = the plan, KEYS[3..] = the new partitions. ARGV: its epoch and
// committed cursor as the caller saw them, its new end, then id, start, end ('': open-ended, the new head of
// a split head), start cursor of each new one.
const char* kSplit = R"lua(
local p = KEYS[1]
if tostring(redis.call('HGET', p, 'epoch')) ~= ARGV[1] or redis.call('HGET', p, 'state') ~= 'pending'
   or (redis.call('HGET', p, 'cursor') or '') ~= ARGV[2] then return 0 end
local from = redis.call('HMGET', p, 'source', 'traffic_type', 'domain')
local list = redis.call('HGET', KEYS[2], 'partitions') or ''
for i = 3, #KEYS do
  local a = 4 + (i - 3) * 4
  redis.call('HSET', KEYS[i], 'source', from[1] or '', 'traffic_type', from[2] or '', 'domain', from[3] or '',
             'start_us', ARGV[a + 1], 'end_us', ARGV[a + 2], 'cursor', ARGV[a + 3], 'state', 'pending', 'epoch', '0',
             'owner', '', 'lease_expiry_us', '0', 'delivered', '0', 'caught_up_us', '0', 'next_due_us', '0',
             'sweep_cursor', '')
  if list == '' then list = ARGV[a] else list = list .. ',' .. ARGV[a] end
end
redis.call('HSET', p, 'end_us', ARGV[3])
redis.call('HSET', KEYS[2], 'partitions', list)
return 1
)lua";

// KEYS[1] = the plan; ARGV = partition ids appended to its list.
const char* kAppendIds = R"lua(
local list = redis.call('HGET', KEYS[1], 'partitions') or ''
for i = 1, #ARGV do
  if list == '' then list = ARGV[i] else list = list .. ',' .. ARGV[i] end
end
redis.call('HSET', KEYS[1], 'partitions', list)
return 1
)lua";

// A set-aside list (gaps, dead letters) bounded by count and age. KEYS[1] = the list, KEYS[2] = the hash of
// drop counts. ARGV: entry ('' = no push, only expire), max entries, ttl_s, cutoff_us (entries recorded
// before it are expired), the list's name. Entries are JSON objects with recorded_us, oldest at the head; an
// entry without it (written before 0.2) is not aged, only capped. Returns {length, expired, over_cap}.
const char* kPushCapped = R"lua(
local n
if ARGV[1] ~= '' then n = redis.call('RPUSH', KEYS[1], ARGV[1]) else n = redis.call('LLEN', KEYS[1]) end
local cutoff = tonumber(ARGV[4])
local expired = 0
while n > 0 do
  local ok, e = pcall(cjson.decode, redis.call('LINDEX', KEYS[1], 0))
  local t = ok and type(e) == 'table' and tonumber(e['recorded_us'])
  if not t or t >= cutoff then break end
  redis.call('LPOP', KEYS[1])
  expired = expired + 1
  n = n - 1
end
local over = 0
local max = tonumber(ARGV[2])
if n > max then
  over = n - max
  redis.call('LTRIM', KEYS[1], over, -1)
  n = max
end
if expired > 0 then redis.call('HINCRBY', KEYS[2], ARGV[5] .. ':expired', expired) end
if over > 0 then redis.call('HINCRBY', KEYS[2], ARGV[5] .. ':over_cap', over) end
if ARGV[1] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return {n, expired, over}
)lua";

StateListLimits& process_list_limits() {
  static StateListLimits limits;
  return limits;
}

// Marks live in one hash per day of last_modified_on, dropped 91 days after that day.
long long mark_expiry_s(Micros last_modified_us) {
  Micros day_start = last_modified_us - ((last_modified_us % kMicrosPerDay) + kMicrosPerDay) % kMicrosPerDay;
  return (day_start + kMarkRetention) / kMicrosPerSecond;
}

long long to_ll(const std::string& s) {
  try {
    return s.empty() ? 0 : std::stoll(s);
  } catch (...) {
    return 0;
  }
}

}  // namespace

namespace {
constexpr std::array<std::string_view, 4> kStateNames{"pending", "leased", "done", "live"};  // enum order
}  // namespace

std::string_view state_name(PartitionState s) {
  return kStateNames[static_cast<std::size_t>(s)];
}

PartitionState state_from_name(std::string_view s) {
  for (std::size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == s) return static_cast<PartitionState>(i);
  }
  return PartitionState::Pending;
}

void set_default_list_limits(const StateListLimits& limits) {
  process_list_limits() = limits;
}
const StateListLimits& default_list_limits() {
  return process_list_limits();
}

StateStore::StateStore(Redis& redis, std::string prefix)
    : StateStore(redis, std::move(prefix), default_list_limits()) {}
StateStore::StateStore(Redis& redis, std::string prefix, StateListLimits limits)
    : redis_(redis), prefix_(std::move(prefix)), limits_(limits) {}

Result<bool, std::string> StateStore::plan_exists() {
  auto r = redis_.command({"EXISTS", prefix_ + "plan"});
  if (!r) return err(r.error());
  return r->integer == 1;
}

Result<Micros, std::string> StateStore::plan_created() {
  auto r = redis_.command({"HGET", prefix_ + "plan", "created_us"});
  if (!r) return err(r.error());
  return static_cast<Micros>(to_ll(r->str));
}

static std::vector<std::string> new_partition_hset(const std::string& prefix, const Partition& p) {
  return {"HSET",
          prefix + "part:" + p.id,
          "source",
          p.source,
          "traffic_type",
          p.traffic_type,
          "domain",
          p.domain,
          "start_us",
          std::to_string(p.start_us),
          "end_us",
          p.end_us ? std::to_string(*p.end_us) : "",
          "cursor",
          p.cursor,
          "state",
          std::string(state_name(p.state)),
          "epoch",
          "0",
          "owner",
          "",
          "lease_expiry_us",
          "0",
          "delivered",
          "0",
          "caught_up_us",
          "0",
          "next_due_us",
          "0",
          "sweep_cursor",
          ""};
}

Result<Unit, std::string> StateStore::create_plan(const std::vector<Partition>& parts, Micros created_us) {
  std::vector<std::vector<std::string>> cmds;
  std::string ids;
  for (const auto& p : parts) {
    cmds.push_back(new_partition_hset(prefix_, p));
    ids += (ids.empty() ? "" : ",") + p.id;
  }
  // The plan key last: a plan exists only once all its partitions do.
  cmds.push_back({"HSET", prefix_ + "plan", "created_us", std::to_string(created_us), "partitions", ids});
  auto r = redis_.pipeline(cmds);
  if (!r) return err(r.error());
  for (const auto& reply : r.value()) {
    if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
  }
  return Unit{};
}

Result<Unit, std::string> StateStore::add_partitions(const std::vector<Partition>& parts) {
  if (parts.empty()) return Unit{};
  std::vector<std::vector<std::string>> cmds;
  std::vector<std::string> ids;
  for (const auto& p : parts) {
    cmds.push_back(new_partition_hset(prefix_, p));
    ids.push_back(p.id);
  }
  auto r = redis_.pipeline(cmds);
  if (!r) return err(r.error());
  for (const auto& reply : r.value()) {
    if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
  }
  // Listed last (only once written), appended in one step: a split by the coordinator meanwhile keeps its
  // pieces.
  auto listed = redis_.eval(kAppendIds, {prefix_ + "plan"}, ids);
  if (!listed) return err(listed.error());
  return Unit{};
}

Result<std::vector<Partition>, std::string> StateStore::partitions() {
  auto plan = redis_.command({"HGET", prefix_ + "plan", "partitions"});
  if (!plan) return err(plan.error());
  std::vector<std::string> ids;
  std::string cur;
  for (char c : plan->str + ",") {
    if (c == ',') {
      if (!cur.empty()) ids.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  std::vector<std::vector<std::string>> cmds;
  for (const auto& id : ids) cmds.push_back({"HGETALL", prefix_ + "part:" + id});
  auto r = redis_.pipeline(cmds);
  if (!r) return err(r.error());
  std::vector<Partition> out;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto& els = r.value()[i].elements;
    std::map<std::string, std::string> f;
    for (std::size_t k = 0; k + 1 < els.size(); k += 2) f[els[k].str] = els[k + 1].str;
    Partition p;
    p.id = ids[i];
    if (!f["source"].empty()) p.source = f["source"];
    p.traffic_type = f["traffic_type"];
    p.domain = f["domain"];
    p.start_us = to_ll(f["start_us"]);
    if (!f["end_us"].empty()) p.end_us = to_ll(f["end_us"]);
    p.cursor = f["cursor"];
    p.state = state_from_name(f["state"]);
    p.epoch = to_ll(f["epoch"]);
    p.owner = f["owner"];
    p.lease_expiry_us = to_ll(f["lease_expiry_us"]);
    p.delivered = to_ll(f["delivered"]);
    p.caught_up_us = to_ll(f["caught_up_us"]);
    p.next_due_us = to_ll(f["next_due_us"]);
    p.sweep_cursor = f["sweep_cursor"];
    out.push_back(std::move(p));
  }
  return out;
}

Result<bool, std::string> StateStore::split_partition(const Partition& p,
                                                      const std::vector<Partition>& pieces) {
  if (pieces.empty()) return false;
  std::vector<std::string> keys{prefix_ + "part:" + p.id, prefix_ + "plan"};
  std::vector<std::string> args{std::to_string(p.epoch), p.cursor, std::to_string(pieces.front().start_us)};
  for (const auto& q : pieces) {
    keys.push_back(prefix_ + "part:" + q.id);
    args.insert(args.end(),
                {q.id, std::to_string(q.start_us), q.end_us ? std::to_string(*q.end_us) : "", q.cursor});
  }
  auto r = redis_.eval(kSplit, keys, args);
  if (!r) return err(r.error());
  return r->integer == 1;
}

Result<Unit, std::string> StateStore::save_lease(const Partition& p) {
  auto r = redis_.command({"HSET", prefix_ + "part:" + p.id, "state", std::string(state_name(p.state)),
                           "epoch", std::to_string(p.epoch), "owner", p.owner, "lease_expiry_us",
                           std::to_string(p.lease_expiry_us), "next_due_us", std::to_string(p.next_due_us)});
  if (!r) return err(r.error());
  return Unit{};
}

Result<std::vector<bool>, std::string> StateStore::delivered(const std::vector<DeliveredVersion>& versions) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& v : versions)
    cmds.push_back({"HEXISTS", prefix_ + "marks:" + format_day(v.last_modified_us), v.key});
  auto r = redis_.pipeline(cmds);
  if (!r) return err(r.error());
  std::vector<bool> out;
  for (const auto& reply : r.value()) {
    if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
    out.push_back(reply.integer == 1);
  }
  return out;
}

Result<bool, std::string> StateStore::commit(const std::string& partition, long long epoch,
                                             const std::string& cursor,
                                             const std::vector<DeliveredVersion>& versions, bool caught_up,
                                             const std::string& sweep_cursor) {
  std::vector<std::string> args{std::to_string(epoch), cursor, caught_up ? std::to_string(now_micros()) : "0",
                                sweep_cursor, std::to_string(versions.size())};
  for (const auto& v : versions) {
    Micros day_start =
        v.last_modified_us - ((v.last_modified_us % kMicrosPerDay) + kMicrosPerDay) % kMicrosPerDay;
    args.push_back(prefix_ + "marks:" + format_day(v.last_modified_us));
    args.push_back(v.key);
    args.push_back(std::to_string((day_start + kMarkRetention) / kMicrosPerSecond));
  }
  auto r = redis_.eval(kCommit, {prefix_ + "part:" + partition}, args);
  if (!r) return err(r.error());
  return r->integer == 1;
}

Result<Unit, std::string> StateStore::mark_delivered(const std::vector<DeliveredVersion>& versions) {
  std::vector<std::vector<std::string>> cmds;
  for (const auto& v : versions) {
    std::string key = prefix_ + "marks:" + format_day(v.last_modified_us);
    cmds.push_back({"HSET", key, v.key, "1"});
    cmds.push_back({"EXPIREAT", key, std::to_string(mark_expiry_s(v.last_modified_us))});
  }
  if (cmds.empty()) return Unit{};
  auto r = redis_.pipeline(cmds);
  if (!r) return err(r.error());
  for (const auto& reply : r.value()) {
    if (reply.type == RedisReply::Type::Error) return err("redis: " + reply.str);
  }
  return Unit{};
}

Result<std::optional<long long>, std::string> StateStore::epoch_of(const std::string& partition) {
  auto r = redis_.command({"HGET", prefix_ + "part:" + partition, "epoch"});
  if (!r) return err(r.error());
  if (r->nil()) return std::optional<long long>{};
  return std::optional<long long>{to_ll(r->str)};
}

Result<Unit, std::string> StateStore::dead_letter(const std::string& stream, const std::string& key,
                                                  const std::string& why, const std::string& row_json) {
  nlohmann::json dl = {
      {"stream", stream}, {"key", key}, {"why", why}, {"row", row_json}, {"recorded_us", now_micros()}};
  return push_capped("dead_letters", prefix_ + "deadletter", limits_.dead_letters,
                     dl.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Result<Unit, std::string> StateStore::push_capped(const std::string& list, const std::string& key,
                                                  const ListLimits& l, const std::string& entry) {
  const long long max = std::max(1LL, l.max_entries), ttl = std::max(1LL, l.ttl_s);
  auto r = redis_.eval(kPushCapped, {key, prefix_ + "dropped"},
                       {entry, std::to_string(max), std::to_string(ttl),
                        std::to_string(now_micros() - ttl * kMicrosPerSecond), list});
  if (!r) return err(r.error());
  const auto& e = r->elements;
  if (e.size() == 3) {
    auto& m = Metrics::get();
    if (e[1].integer > 0) m.state_list_dropped(list, "expired").Increment(static_cast<double>(e[1].integer));
    if (e[2].integer > 0) {
      m.state_list_dropped(list, "over_cap").Increment(static_cast<double>(e[2].integer));
      log::warn("state.list_capped", {{"list", list}, {"dropped", e[2].integer}, {"max_entries", max}});
    }
  }
  return Unit{};
}

Result<ListDrops, std::string> StateStore::drops(const std::string& list) {
  auto r = redis_.command({"HMGET", prefix_ + "dropped", list + ":over_cap", list + ":expired"});
  if (!r) return err(r.error());
  ListDrops d;
  if (r->elements.size() == 2) {
    d.over_cap = to_ll(r->elements[0].str);
    d.expired = to_ll(r->elements[1].str);
  }
  return d;
}

Result<ListDrops, std::string> StateStore::gap_drops() {
  return drops("gaps");
}
Result<ListDrops, std::string> StateStore::dead_letter_drops() {
  return drops("dead_letters");
}

Result<Unit, std::string> StateStore::expire_old_list_entries() {
  if (auto g = push_capped("gaps", prefix_ + "gaps", limits_.gaps, ""); !g) return g;
  return push_capped("dead_letters", prefix_ + "deadletter", limits_.dead_letters, "");
}

Result<Unit, std::string> StateStore::record_gap(const std::string& partition, const std::string& at,
                                                 std::size_t seen) {
  const Micros now = now_micros();
  nlohmann::json gap = {{"partition", partition},
                        {"at", at},
                        {"seen", seen},
                        {"recorded", format_iso_ms(now)},
                        {"recorded_us", now}};
  auto r = push_capped("gaps", prefix_ + "gaps", limits_.gaps, gap.dump());
  if (!r) log::error("state.gap_not_recorded", {{"error", r.error()}, {"gap", gap}});
  return r;
}

Result<std::vector<GapRecord>, std::string> StateStore::gaps() {
  auto entries = gap_entries();
  if (!entries) return err(entries.error());
  std::vector<GapRecord> out;
  for (auto& [text, g] : entries.value()) out.push_back(std::move(g));
  return out;
}

Result<Unit, std::string> StateStore::remove_gap(const std::string& entry) {
  auto r = redis_.command({"LREM", prefix_ + "gaps", "1", entry});
  if (!r) return err(r.error());
  return Unit{};
}

Result<std::vector<std::pair<std::string, GapRecord>>, std::string> StateStore::gap_entries() {
  auto r = redis_.command({"LRANGE", prefix_ + "gaps", "0", "-1"});
  if (!r) return err(r.error());
  std::vector<std::pair<std::string, GapRecord>> out;
  for (const auto& e : r->elements) {
    auto j = nlohmann::json::parse(e.str, nullptr, false);
    if (!j.is_object() || !j.contains("at") || !j["at"].is_string()) continue;
    GapRecord g;
    g.at = j["at"].get<std::string>();
    if (j.contains("partition") && j["partition"].is_string())
      g.partition = j["partition"].get<std::string>();
    if (j.contains("seen") && j["seen"].is_number_integer()) g.seen = j["seen"].get<long long>();
    if (j.contains("recorded_us") && j["recorded_us"].is_number_integer()) {
      g.recorded_us = j["recorded_us"].get<Micros>();
    } else if (j.contains("recorded") && j["recorded"].is_string()) {  // entries written before 0.2
      g.recorded_us = parse_time(j["recorded"].get<std::string>()).value_or(0);
    }
    out.emplace_back(e.str, std::move(g));
  }
  return out;
}

Result<long long, std::string> StateStore::gap_count() {
  auto r = redis_.command({"LLEN", prefix_ + "gaps"});
  if (!r) return err(r.error());
  return r->integer;
}

Result<long long, std::string> StateStore::dead_letter_count() {
  auto r = redis_.command({"LLEN", prefix_ + "deadletter"});
  if (!r) return err(r.error());
  return r->integer;
}

const char* fatal_code::known(std::string_view code) {
  for (const char* c : {kEtpAuth, kEtpRefused, kSentinelAuth, kSentinelRefused, kInternal})
    if (code == c) return c;
  return kUnknown;
}

void StateStore::set_fatal(std::string_view code, const std::string& detail) {
  // Vendor and Azure error texts can echo a credential: only the redacted text is ever stored (and so written
  // to the AOF file, shown by `status` and read by other roles).
  nlohmann::json v{{"code", fatal_code::known(code)},
                   {"detail", log::redact(detail)},
                   {"at", format_iso_ms(now_micros())}};
  auto r = redis_.command(
      {"SET", prefix_ + "fatal", v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)});
  if (!r) log::error("state.fatal_not_recorded", {{"error", r.error()}});
}

void StateStore::put_progress(const nlohmann::json& progress, int ttl_s) {
  (void)redis_.command({"SET", prefix_ + "progress", progress.dump(), "EX", std::to_string(ttl_s)});
}

std::optional<nlohmann::json> StateStore::progress() {
  auto r = redis_.command({"GET", prefix_ + "progress"});
  if (!r || r->nil()) return std::nullopt;
  auto v = nlohmann::json::parse(r->str, nullptr, false);
  if (!v.is_object()) return std::nullopt;
  return v;
}

void StateStore::clear_progress() {
  (void)redis_.command({"DEL", prefix_ + "progress"});
}

std::optional<FatalError> StateStore::fatal() {
  auto r = redis_.command({"GET", prefix_ + "fatal"});
  if (!r || r->nil()) return std::nullopt;
  auto v = nlohmann::json::parse(r->str, nullptr, false);
  if (v.is_object() && v.contains("code") && v["code"].is_string() && v.contains("detail") &&
      v["detail"].is_string())
    return FatalError{fatal_code::known(v["code"].get<std::string>()), v["detail"].get<std::string>()};
  return FatalError{fatal_code::kUnknown, log::redact(r->str)};
}

Result<std::vector<std::string>, std::string> StateStore::claim_fingerprint(const std::string& name,
                                                                            const nlohmann::json& mine,
                                                                            bool replace) {
  const std::string key = prefix_ + "fingerprint";
  std::string text = mine.dump();
  auto set = redis_.command({replace ? "HSET" : "HSETNX", key, name, text});
  if (!set) return err(set.error());
  std::vector<std::string> differs;
  auto stored_text = redis_.command({"HGET", key, name});
  if (!stored_text) return err(stored_text.error());
  auto stored = nlohmann::json::parse(stored_text->str, nullptr, false);
  if (!stored.is_object()) stored = nlohmann::json::object();
  if (replace || stored == mine) return differs;
  for (const auto& [field, now] : mine.items()) {
    auto was = stored.contains(field) ? stored[field] : nlohmann::json();
    if (was == now) continue;
    differs.push_back(field == "credential" ? field + ": another credential"
                                            : field + ": stored " + was.dump() + ", now " + now.dump());
  }
  return differs;
}

Result<bool, std::string> StateStore::hold_coordinator_lock(const std::string& holder, Micros ttl_us) {
  static const char* kHold =
      "local v = redis.call('GET', KEYS[1]) "
      "if v == false or v == ARGV[1] then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
      "return 0";
  auto r = redis_.eval(kHold, {prefix_ + "coordinator"},
                       {holder, std::to_string(std::max<Micros>(1, ttl_us / 1000))});
  if (!r) return err(r.error());
  return r->integer == 1;
}

void StateStore::release_coordinator_lock(const std::string& holder) {
  static const char* kRelease =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
  (void)redis_.eval(kRelease, {prefix_ + "coordinator"}, {holder});
}

std::optional<std::string> StateStore::coordinator_lock_holder() {
  auto r = redis_.command({"GET", prefix_ + "coordinator"});
  if (!r || r->nil()) return std::nullopt;
  return r->str;
}

void StateStore::clear_fatal() {
  (void)redis_.command({"DEL", prefix_ + "fatal"});
}

void StateStore::shipper_alive(const std::string& id, int ttl_s) {
  (void)redis_.command({"SET", prefix_ + "shipper:" + id, "1", "EX", std::to_string(ttl_s)});
}

bool StateStore::shipper_is_alive(const std::string& id) {
  auto r = redis_.command({"EXISTS", prefix_ + "shipper:" + id});
  return !r || r->integer == 1;  // if Redis is unreachable, do not conclude the shipper died
}

void StateStore::disable_source(const std::string& source, const std::string& why) {
  (void)redis_.command({"HSET", prefix_ + "disabled", source, log::redact(why)});
}

Result<std::map<std::string, std::string>, std::string> StateStore::disabled_sources() {
  auto r = redis_.command({"HGETALL", prefix_ + "disabled"});
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < r->elements.size(); i += 2)
    out[r->elements[i].str] = r->elements[i + 1].str;
  return out;
}

Result<Unit, std::string> StateStore::set_v1_retired(const std::string& detail) {
  nlohmann::json j = {{"at", format_iso_ms(now_micros())}, {"detail", log::redact(detail)}};
  auto r = redis_.command({"SET", prefix_ + "v1_retired", j.dump(), "NX"});
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  return Unit{};
}

Result<std::optional<nlohmann::json>, std::string> StateStore::v1_retired() {
  auto r = redis_.command({"GET", prefix_ + "v1_retired"});
  if (!r) return err(r.error());
  if (r->type == RedisReply::Type::Error) return err("redis: " + r->str);
  if (r->type != RedisReply::Type::String) return std::optional<nlohmann::json>();
  auto j = nlohmann::json::parse(r->str, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = {{"at", ""}, {"detail", "unreadable record"}};
  return std::optional<nlohmann::json>(std::move(j));
}

void StateStore::clear_disabled_sources() {
  (void)redis_.command({"DEL", prefix_ + "disabled"});
}

}  // namespace etp2s
