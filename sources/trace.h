#pragma once
// The message trace: one row per message version in FireEyeETPMessageTrace_CL, whether it came from the
// lookup of an alerted message (sources/lookups.h, ETP_TRACE=alerted) or from the whole trace stream read
// here
// (`trace-all`, ETP_TRACE=all: POST /api/v1/messages/trace, 300 records a page, oldest first by
// lastModifiedDateTime, the same cursor pager as the alerts). This file and trace.cpp are the only places
// that know the trace field names.
#include "sources/paged.h"

namespace etp2s {

inline constexpr const char* kTraceAllSource = "trace-all";
inline constexpr const char* kTraceTable = "FireEyeETPMessageTrace_CL";
inline constexpr const char* kTraceOriginAlerted = "alerted";
inline constexpr const char* kTraceOriginStream = "trace";

// One trace record → one row keyed `trace|traffic|message id|lastModifiedDateTime` (the same message version
// from either origin is one row). The fields may sit under `attributes` (the public samples) or at the top
// level. `fallback_id`/`fallback_us` stand in for a record without an id or a readable time. nullopt: the
// record is not an object.
std::optional<Row> trace_row(const std::string& traffic_type, const std::string& origin,
                             const std::string& fallback_id, Micros fallback_us, const OrderedJson& record,
                             const RowLimits& limits);

class TraceAllSource final : public PagedSource {
 public:
  explicit TraceAllSource(const SourceContext& ctx);
  std::string name() const override { return kTraceAllSource; }
  std::string stream() const override { return kTraceTable; }
  std::string route() const override { return "trace"; }
  // A key without the trace entitlement switches this stream off; the alerts go on.
  bool optional() const override { return true; }
  // Supporting data, not the alerts' latency goal: a live poll every 5 s per traffic type (24 of the route's
  // 60 requests a minute when idle; a poll reads up to 10 pages, the next one goes on from there).
  Micros poll_interval() const override { return 5 * kMicrosPerSecond; }

 protected:
  PageFetch fetch() const override;
  RecordRows rows() const override;

 private:
  std::shared_ptr<EtpClient> client_;
  RowLimits limits_;
};

std::unique_ptr<Source> make_trace_all_source(const SourceContext& ctx);

}  // namespace etp2s
