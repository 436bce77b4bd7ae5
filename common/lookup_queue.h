#pragma once
// Lookup queues: the durable work list of per-record lookups (alert details, an alerted message's trace) that
// paging leaves for later. One Redis sorted set per queue: member = the record's id, score = its version time
// (ms). Newest first is ZREVRANGE; a newer version of an id replaces its score (ZADD GT), an id is never
// queued twice; bounded: when full, the oldest entries are dropped and counted (an analyst needs today's
// details before last month's). An entry leaves the queue once its lookup was delivered (or answered "not
// found"), and only if no newer version was queued meanwhile. See docs/design.md, "Lookups".
#include <cstddef>
#include <string>
#include <vector>

#include "common/redis.h"
#include "common/result.h"
#include "common/timefmt.h"

namespace etp2s {

struct Lookup {
  std::string queue;   // e.g. "alert-details"
  std::string id;      // what to look up (an alert id; "traffic|etp_message_id" for a trace)
  Micros time_us = 0;  // the version it is looked up for
};

struct QueueStats {
  long long length = 0;
  long long dropped = 0;       // oldest entries dropped because the queue was full, since the queue began
  long long not_found = 0;     // lookups answered "not found", recorded and dropped
  double drained_per_min = 0;  // lookups completed over the last 5 minutes, per minute
};

class LookupQueue {
 public:
  LookupQueue(Redis& redis, std::string prefix, std::string name, long long capacity);
  // Adds (or moves to a newer version) each entry; drops the oldest beyond capacity. Ok: entries dropped now.
  Result<long long, std::string> enqueue(const std::vector<Lookup>& entries);
  // Up to `n` entries, newest first, skipping the first `skip`.
  Result<std::vector<Lookup>, std::string> newest(std::size_t n, std::size_t skip = 0);
  // Removes the entries whose queued version is not newer than the one given; counts them as drained.
  Result<Unit, std::string> done(const std::vector<Lookup>& entries, bool not_found = false);
  Result<QueueStats, std::string> stats();
  const std::string& name() const { return name_; }

 private:
  std::string key(const char* suffix = "") const { return prefix_ + "queue:" + name_ + suffix; }
  Redis& redis_;
  std::string prefix_, name_;
  long long capacity_;
};

}  // namespace etp2s
