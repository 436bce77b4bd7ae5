#pragma once
// Lookup sources: supporting data read one record per request, for records a paged source has seen — alert
// details (GET /api/v1/alerts/{id}) and the trace of each alerted message (GET /api/v1/messages/{id}).
// The alert pages call for them (SourcePage::lookups); they wait in a durable queue in Redis
// (common/lookup_queue.h) and are drained newest first with whatever budget paging leaves. One partition per
// lookup source holds the drain lease. This file and lookups.cpp are the only places that know the details
// field names (the trace's are in sources/trace.cpp).
#include "sources/source.h"

namespace etp2s {

inline constexpr const char* kDetailsSource = "details-v1";
inline constexpr const char* kTraceAlertedSource = "trace-alerted";
inline constexpr const char* kDetailsQueue = "alert-details";
inline constexpr const char* kTraceQueue = "message-trace";
inline constexpr const char* kDetailsTable = "FireEyeETPAlertDetails_CL";

// The queue a lookup source drains; empty for other sources.
std::string lookup_queue_of(const std::string& source);

// The lookups one alert version calls for (details by alert id; the trace by traffic type and message id).
std::vector<Lookup> lookups_for_alert(const std::string& alert_id, const std::string& etp_message_id,
                                      const std::string& traffic_type, Micros last_modified_us);

// The mark that says a lookup was delivered (kept with the rows' dedupe marks).
DeliveredVersion lookup_mark(const Lookup& l);

// Rows (exposed for tests): nullopt when the record is unusable.
std::optional<Row> details_row(const Lookup& l, const OrderedJson& record, const RowLimits& limits);
std::optional<Row> trace_row(const Lookup& l, const OrderedJson& record, const RowLimits& limits);

std::unique_ptr<Source> make_details_source(const SourceContext& ctx);
std::unique_ptr<Source> make_trace_alerted_source(const SourceContext& ctx);

}  // namespace etp2s
