#pragma once
// Everything the pipeline must remember lives in Redis (AOF): the plan and its partitions with their
// committed cursors and leases, the dedupe marks of delivered alert versions, recorded gaps, and a fatal
// stop.
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/redis.h"
#include "common/result.h"
#include "common/timefmt.h"

namespace etp2s {

enum class PartitionState { Pending, Leased, Done, Live };
std::string_view state_name(PartitionState s);
PartitionState state_from_name(std::string_view s);  // unknown text: Pending (redone, never skipped)

struct Partition {
  std::string id;
  std::string source = "alerts-v1";  // the source adapter that reads it (plans before 0.2 had only this one)
  std::string traffic_type;
  std::string domain;  // ETP_DOMAINS with the v2 search: the one domain this partition reads (empty: all)
  Micros start_us = 0;
  std::optional<Micros> end_us;  // none: open-ended, becomes the live cursor of steady state
  std::string cursor;            // committed: every alert before it has been delivered
  PartitionState state = PartitionState::Pending;
  long long epoch = 0;
  std::string owner;
  Micros lease_expiry_us = 0;
  long long delivered = 0;
  Micros caught_up_us = 0;   // last time the live partition reached the head
  Micros next_due_us = 0;    // live: next poll
  std::string sweep_cursor;  // live: where the late-arrival sweep resumes
  bool live() const { return !end_us.has_value(); }
  // Where a partition goes when its lease ends unfinished: live ones that reached the head stay live.
  PartitionState unleased_state() const {
    return live() && caught_up_us > 0 ? PartitionState::Live : PartitionState::Pending;
  }
};

// One recorded gap: alerts the vendor's API could not page past (more than a page at one instant), skipped.
struct GapRecord {
  std::string partition;
  std::string at;      // the instant (vendor format) the cursor was stuck on
  long long seen = 0;  // alerts seen at that instant (a full page)
  Micros recorded_us = 0;
};

// Caps and retention of the lists where data is set aside (the gaps; the dead letters, which hold whole rows,
// i.e. personal data): the newest `max_entries` are kept, entries older than `ttl_s` are removed at the next
// write or trim, and a list expires `ttl_s` after its last write. Every removal is counted (in Redis, for
// `status`, and in etp2s_state_list_dropped_total).
struct ListLimits {
  long long max_entries = 0;
  long long ttl_s = 0;
};
struct StateListLimits {
  ListLimits gaps{10000, 90LL * 86400};
  ListLimits dead_letters{1000, 30LL * 86400};
};
// The limits of every StateStore of this process not given its own; set once at start, from the
// configuration, before any role starts.
void set_default_list_limits(const StateListLimits& limits);
const StateListLimits& default_list_limits();

// Entries removed from a set-aside list, for `status`: over the cap (the oldest first) and past the TTL.
struct ListDrops {
  long long over_cap = 0;
  long long expired = 0;
};

// A fatal stop: a code that says what the operator must do (docs/operations.md, "Fatal stops") and the
// redacted detail. Codes, never free text, decide behaviour; the detail is for people.
namespace fatal_code {
inline constexpr const char* kEtpAuth = "etp_auth";                  // the vendor refused the credential
inline constexpr const char* kEtpRefused = "etp_refused";            // the vendor refused a request for good
inline constexpr const char* kSentinelAuth = "sentinel_auth";        // Entra ID / Azure refused the identity
inline constexpr const char* kSentinelRefused = "sentinel_refused";  // Azure refused the upload for good
inline constexpr const char* kInternal = "internal";                 // a broken invariant (a bug): report it
inline constexpr const char* kUnknown = "unknown";                   // a code this build does not know
// `code` if this build knows it, else kUnknown (a peer's report is never trusted to name its own code).
const char* known(std::string_view code);
}  // namespace fatal_code

struct FatalError {
  std::string code;
  std::string detail;  // redacted
  std::string text() const { return code + ": " + detail; }
};

struct DeliveredVersion {
  std::string key;  // the row's dedupe key
  Micros last_modified_us = 0;
};

class StateStore {
 public:
  explicit StateStore(Redis& redis, std::string prefix = "etp:");
  StateStore(Redis& redis, std::string prefix, StateListLimits limits);

  // Whose state this is: a fingerprint (a JSON object) of what it was made for, kept under `name` from the
  // first claim on. Returns the fields in which `mine` differs from the stored one ("field: stored X, now Y";
  // a field named `credential` shows no values); with `replace`, `mine` is stored instead (a deliberate
  // change, or a new plan).
  Result<std::vector<std::string>, std::string> claim_fingerprint(const std::string& name,
                                                                  const nlohmann::json& mine, bool replace);

  // Plan
  Result<bool, std::string> plan_exists();
  Result<Unit, std::string> create_plan(const std::vector<Partition>& parts, Micros created_us);
  Result<std::vector<Partition>, std::string> partitions();
  Result<Micros, std::string> plan_created();
  // Adds partitions to an existing plan (a lookup source switched on after the plan was made).
  Result<Unit, std::string> add_partitions(const std::vector<Partition>& parts);
  Result<Unit, std::string> save_lease(const Partition& p);  // state, epoch, owner, expiry, next_due
  // Adaptive partitions: ends `p` at `pieces.front().start_us` and adds `pieces` (its unread remainder, in
  // order, each with an id, start, end and start cursor) to the plan — in one step, and only while `p` is
  // still pending at the epoch and committed cursor the caller saw (nobody reads it meanwhile). False: it
  // changed; nothing done.
  Result<bool, std::string> split_partition(const Partition& p, const std::vector<Partition>& pieces);

  // Fetcher side
  // For each version: already delivered?
  Result<std::vector<bool>, std::string> delivered(const std::vector<DeliveredVersion>& versions);
  // Marks the versions delivered and, if `cursor` is non-empty, moves the committed cursor — only while the
  // caller's lease epoch is current. Ok(false): stale epoch, nothing written.
  Result<bool, std::string> commit(const std::string& partition, long long epoch, const std::string& cursor,
                                   const std::vector<DeliveredVersion>& versions, bool caught_up,
                                   const std::string& sweep_cursor);
  // The shipper records what Azure accepted the moment it knows, so that a fetcher dying before its commit
  // does not make the page's successor ship it again.
  Result<Unit, std::string> mark_delivered(const std::vector<DeliveredVersion>& versions);
  // The partition's current epoch; nullopt if no such partition exists.
  Result<std::optional<long long>, std::string> epoch_of(const std::string& partition);
  // Err: not recorded (logged); the caller must not move a cursor past the gap until it is.
  Result<Unit, std::string> record_gap(const std::string& partition, const std::string& at, std::size_t seen);
  // The recorded gaps, oldest first; entries that do not parse are skipped.
  Result<std::vector<GapRecord>, std::string> gaps();
  // The gap list as stored (each entry's text with what it says), and the removal of one entry by its text
  // (`retry-gaps`: its range is queued as a partition of its own).
  Result<std::vector<std::pair<std::string, GapRecord>>, std::string> gap_entries();
  Result<Unit, std::string> remove_gap(const std::string& entry);
  // Entries in the gap list and in the dead-letter list.
  Result<long long, std::string> gap_count();
  Result<long long, std::string> dead_letter_count();
  // What was removed from the lists so far (kept in Redis), and removing entries past their TTL now.
  Result<ListDrops, std::string> gap_drops();
  Result<ListDrops, std::string> dead_letter_drops();
  Result<Unit, std::string> expire_old_list_entries();
  // Rows Azure can never take, kept (with why) for an operator to look at. Err if Redis refused.
  Result<Unit, std::string> dead_letter(const std::string& stream, const std::string& key,
                                        const std::string& why, const std::string& row_json);

  // One coordinator serves a plan at a time (several Function App instances, a second compose coordinator):
  // takes or renews the lock for `holder` (true), or says another holds it (false). Err: Redis unreachable.
  Result<bool, std::string> hold_coordinator_lock(const std::string& holder, Micros ttl_us);
  void release_coordinator_lock(const std::string& holder);  // only if `holder` holds it
  std::optional<std::string> coordinator_lock_holder();

  // Fatal stop shared by all roles
  // Stored as {"code","detail","at"}; the detail redacted with every secret this process holds.
  void set_fatal(std::string_view code, const std::string& detail);
  std::optional<FatalError> fatal();  // a value written by an older build reads as code "unknown"
  void clear_fatal();

  // Supporting-data sources switched off by a fatal answer on their own route (cleared when the coordinator
  // starts): source name → the redacted reason.
  void disable_source(const std::string& source, const std::string& why);
  // ETP_API=auto: the vendor answered the v1 alert API as retired; every fetcher reads alerts through v2 from
  // then on. `detail` is kept with the time (status shows both). Set once (the first report stays).
  Result<Unit, std::string> set_v1_retired(const std::string& detail);
  // The record, or none while v1 answers.
  Result<std::optional<nlohmann::json>, std::string> v1_retired();
  Result<std::map<std::string, std::string>, std::string> disabled_sources();
  void clear_disabled_sources();

  // The serving coordinator's measured progress (rates and ETAs over its last minute, a JSON object), kept
  // for `ttl_s` so that `status` shows a measurement, never one of a coordinator that has stopped.
  void put_progress(const nlohmann::json& progress, int ttl_s);
  std::optional<nlohmann::json> progress();
  void clear_progress();

  // Shipper liveness
  void shipper_alive(const std::string& id, int ttl_s);
  bool shipper_is_alive(const std::string& id);

  const std::string& prefix() const { return prefix_; }

 private:
  // RPUSH (unless `entry` is empty), then the TTL and the cap; drops are counted.
  Result<Unit, std::string> push_capped(const std::string& list, const std::string& key, const ListLimits& l,
                                        const std::string& entry);
  Result<ListDrops, std::string> drops(const std::string& list);

  Redis& redis_;
  std::string prefix_;
  StateListLimits limits_;
};

}  // namespace etp2s
