#pragma once
// The coordinator: plans the partitions once (each source plans its own), hands out leases with epochs over a
// ZeroMQ ROUTER, renews them on heartbeats, expires them when heartbeats stop, schedules the live partitions
// every second in steady state, and logs progress. All of its state is in Redis, so a restarted coordinator
// resumes.
#include <atomic>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/budget.h"
#include "common/config.h"
#include "common/state.h"
#include "sources/source.h"

namespace etp2s {

// Every enabled source's partitions for the window (each source plans its own; see sources/source.h).
std::vector<Partition> plan_partitions(const std::vector<std::string>& sources, const PlanWindow& window,
                                       const Config& config);

struct CoordinatorOptions {
  std::string endpoint;
  int lease_ttl_s = 5;
  Micros poll_interval_us = kMicrosPerSecond;  // steady state: the customer's one-second polling
  int progress_every_s = 5;
};

struct Progress {
  std::size_t bounded_done = 0, bounded_total = 0;
  std::size_t live_caught_up = 0, live_total = 0;
  long long delivered = 0;
  bool backfill_complete() const { return bounded_done == bounded_total && live_caught_up == live_total; }
};

// Per paged stream: the share of its window done, rows delivered, and the rate and ETA measured over the last
// minute (not since the plan was made). Fed once a second; the live view (LOG_FORMAT=text) and the metrics
// etp2s_backfill_progress_ratio / etp2s_backfill_eta_seconds read it.
class ProgressView {
 public:
  struct Stream {
    double span = 0, done = 0, lag_s = -1;
    long long delivered = 0;
    bool bounded = false, caught_up = true;
    double share = 1, rows_per_s = 0;
    double eta_s = -1;  // -1: not known yet (no progress over the last minute); 0: done
  };
  // One partition over the last minute: rows delivered a second, seconds until done at the rate its share
  // grew (-1: not known — not started, or no progress measured yet; 0: done). A view made after a restart
  // knows nothing for its first second rather than dividing by the time since the plan.
  struct Rate {
    double rows_per_s = 0;
    double eta_s = -1;
  };
  void update(const std::vector<Partition>& parts, Micros now);
  const std::map<std::string, Stream>& streams() const { return streams_; }
  const std::map<std::string, Rate>& partitions() const { return partitions_; }
  // What `status` shows of a running coordinator's measurement (published to Redis as "progress").
  nlohmann::json to_json(Micros now) const;
  // `routes`: source → the vendor route whose budget it spends.
  std::vector<std::string> lines(const nlohmann::json& lookups,
                                 const std::map<std::string, std::string>& routes, Budget& budget,
                                 int limit) const;

 private:
  struct Point {
    double share = 0;
    long long delivered = 0;
    Micros end = 0;  // a partition's end when sampled: a split moves it, and the share with it
  };
  using Sample = std::map<std::string, Point>;
  // The rate of `name` since the oldest sample of the last minute that has it with the same end.
  Rate rate(bool partition, const std::string& name, const Point& at, Micros now) const;
  std::map<std::string, Stream> streams_;
  std::map<std::string, Rate> partitions_;
  // (when, streams, partitions) over the last minute
  std::deque<std::tuple<Micros, Sample, Sample>> history_;
};

class Coordinator {
 public:
  Coordinator(const Config& config, CoordinatorOptions options);
  // Runs until stop becomes true. Returns a process exit code.
  int run(const std::atomic<bool>& stop);
  bool backfill_complete() const { return complete_.load(); }
  long long leases_expired() const { return expired_.load(); }

 private:
  Config config_;
  CoordinatorOptions opt_;
  std::atomic<bool> complete_{false};
  std::atomic<long long> expired_{0};
};

// Adaptive partitions: where to cut the unread remainder [from, end) of a bounded partition into `pieces` of
// equal time, on whole seconds (the v2 search's date_range counts in seconds), none shorter than
// `min_span_us`. With `first_cut` (shorter than an equal share), the first piece ends there and the rest of
// the remainder is cut in equal time among the other pieces. Empty: not worth a split.
std::vector<Micros> split_points(Micros from, Micros end, int pieces, Micros min_span_us,
                                 std::optional<Micros> first_cut = std::nullopt);

// The lookup queues of the enabled lookup sources: waiting, drain rate, ETA, dropped, not found, switched
// off.
nlohmann::json describe_lookups(Redis& redis, const std::string& prefix, const Config& config);

// Where each paged stream's complete knowledge ends: everything the vendor showed before this instant has
// been delivered. Per (source, traffic type), over the partitions in time order: the end of the done ones up
// to the first unfinished one, then that one's committed place (a caught-up head: its last successful poll);
// the earliest over domains. `now − this` is the lag (etp2s_cursor_lag_seconds) — defined during a backfill
// too.
std::map<std::pair<std::string, std::string>, Micros> complete_until(const std::vector<Partition>& parts);

// The share of a paged partition's window that is done (a head still catching up: its window up to now).
double done_ratio(const Partition& p, Micros now_us);

// The numbers `status` prints and the progress log shows (paged partitions; lookups: describe_lookups). The
// rate and ETA of a partition come from `rates` (a coordinator's last minute); without them they are left
// out.
nlohmann::json describe_progress(const std::vector<Partition>& parts, Micros now_us,
                                 const std::map<std::string, ProgressView::Rate>& rates = {});

}  // namespace etp2s
