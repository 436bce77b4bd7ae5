#include "sources/trace.h"

#include "common/etp_model.h"

namespace etp2s {
namespace {

std::string text_at(const OrderedJson& j, const char* field) {
  const OrderedJson* v = find_path(j, {field});
  if (!v || v->is_null()) return {};
  return v->is_string() ? v->get<std::string>() : v->dump();
}

}  // namespace

std::optional<Row> trace_row(const std::string& traffic, const std::string& origin,
                             const std::string& fallback_id, Micros fallback_us, const OrderedJson& r,
                             const RowLimits& limits) {
  if (!r.is_object()) return std::nullopt;
  const OrderedJson* nested = find_path(r, {"attributes"});
  const OrderedJson& f = nested && nested->is_object() ? *nested : r;
  std::string id = text_at(r, "id");
  if (id.empty()) id = fallback_id;
  Micros version = parse_time(text_at(f, "lastModifiedDateTime")).value_or(fallback_us);
  std::string sender = text_at(f, "senderSMTP");
  if (sender.empty()) sender = text_at(f, "from");
  return fit_row(
      [&](std::size_t field_limit) {
        RowWriter w(field_limit);
        w.time_us("TimeGenerated", version);
        w.string("EtpMessageId", id);
        w.time_us("LastModifiedDateTime", version);
        w.time("AcceptedDateTime", text_at(f, "acceptedDateTime"));
        w.string("Status", text_at(f, "status"));
        w.string("TrafficType", traffic);
        w.string("TraceSource", origin);
        w.string("SenderIp", text_at(f, "senderIP"));
        w.string("Sender", sender);
        w.string("Subject", text_at(f, "subject"));
        w.string("Domain", text_at(f, "domain"));
        w.dynamic("Recipients", find_path(f, {"recipientSMTP"}));
        w.dynamic("Verdicts", find_path(f, {"verdicts"}));
        w.string("DownstreamMsgId", text_at(f, "downStreamMsgID"));
        w.string("OriginalMessageId", text_at(f, "originalMessageID"));
        w.dynamic("UrlDomains", find_path(f, {"urlDomains"}));
        w.dynamic("RawTrace", &r);
        w.truncated_fields();
        w.string("ConnectorVersion", ETP2S_VERSION);
        std::vector<std::string> truncated = w.truncated();
        return Row{"trace|" + traffic + "|" + id + "|" + std::to_string(version), version, w.finish(),
                   std::move(truncated)};
      },
      limits);
}

TraceAllSource::TraceAllSource(const SourceContext& ctx)
    : PagedSource("trace-", kTracePageMax, kTracePageMax), client_(ctx.client), limits_(ctx.limits) {}

PageFetch TraceAllSource::fetch() const {
  return [client = client_](const SummaryQuery& q) { return client->trace_page(q); };
}

RecordRows TraceAllSource::rows() const {
  return [limits = limits_](const Alert& a, SourcePage& out) {
    if (auto row = trace_row(a.traffic_type, kTraceOriginStream, a.id, a.last_modified_us, a.raw, limits))
      out.rows.push_back(std::move(*row));
  };
}

std::unique_ptr<Source> make_trace_all_source(const SourceContext& ctx) {
  return std::make_unique<TraceAllSource>(ctx);
}

}  // namespace etp2s
