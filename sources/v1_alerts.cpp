#include "sources/v1_alerts.h"

#include "sources/lookups.h"

namespace etp2s {
namespace {

const OrderedJson* at(const OrderedJson& j, std::initializer_list<const char*> path) {
  return find_path(j, path);
}

// A string field without a copy; other scalars as text (vendors are not always consistent about types).
struct Text {
  std::string_view view;
  std::string owned;
};
Text text_at(const OrderedJson& j, std::initializer_list<const char*> path) {
  const OrderedJson* v = find_path(j, path);
  Text t;
  if (!v || v->is_null()) return t;
  if (v->is_string()) {
    t.view = v->get_ref<const std::string&>();
  } else {
    t.owned = v->dump();
    t.view = t.owned;
  }
  return t;
}

void boolean_at(RowWriter& w, const char* name, const OrderedJson& r,
                std::initializer_list<const char*> path) {
  const OrderedJson* v = at(r, path);
  bool b = v && v->is_boolean() && v->get<bool>();
  w.boolean(name, v && v->is_boolean() ? &b : nullptr);
}

void build_columns(RowWriter& w, const Alert& a) {
  const OrderedJson& r = a.raw;
  w.time_us("TimeGenerated", a.last_modified_us);
  w.string("AlertId", a.id);
  w.string("EtpMessageId", a.etp_message_id);
  w.number_text("LegacyId", text_at(r, {"attributes", "meta", "legacy_id"}).view);
  w.string("TrafficType", a.traffic_type);
  w.time_us("LastModifiedOn", a.last_modified_us);
  w.time("AlertTimestamp", text_at(r, {"attributes", "alert", "timestamp"}).view);
  w.time("AcceptedTime", text_at(r, {"attributes", "email", "timestamp", "accepted"}).view);
  w.string("EmailStatus", text_at(r, {"attributes", "email", "status"}).view);
  w.dynamic("AlertTypes", at(r, {"attributes", "alert", "alert_type"}));
  w.string("MetaAlertType", text_at(r, {"attributes", "meta", "alert_type"}).view);
  w.string("LastMalware", text_at(r, {"attributes", "meta", "last_malware"}).view);
  w.string("MalwareMd5", text_at(r, {"attributes", "alert", "malware_md5"}).view);
  w.string("Sha256", text_at(r, {"attributes", "alert", "sha256"}).view);
  w.string("SourceIp", text_at(r, {"attributes", "email", "source_ip"}).view);
  w.string("MailFrom", text_at(r, {"attributes", "email", "smtp", "mail_from"}).view);
  w.string("RcptTo", text_at(r, {"attributes", "email", "smtp", "rcpt_to"}).view);
  w.string("HeaderFrom", text_at(r, {"attributes", "email", "headers", "from"}).view);
  w.string("HeaderTo", text_at(r, {"attributes", "email", "headers", "to"}).view);
  w.string("HeaderCc", text_at(r, {"attributes", "email", "headers", "cc"}).view);
  w.string("Subject", text_at(r, {"attributes", "email", "headers", "subject"}).view);
  w.string("Attachment", text_at(r, {"attributes", "email", "attachment"}).view);
  boolean_at(w, "Acknowledged", r, {"attributes", "meta", "acknowledged"});
  boolean_at(w, "Read", r, {"attributes", "meta", "read"});
  w.dynamic("Ati", at(r, {"attributes", "ati"}));
  w.raw("Details", "null");  // the details lookup is its own stream (see docs/design.md)
  if (!a.raw_text.empty() && a.raw_text.size() <= w.field_limit()) {
    w.raw("RawAlert", a.raw_text);
  } else {
    w.dynamic("RawAlert", &r);
  }
  w.truncated_fields();
  w.string("ConnectorVersion", ETP2S_VERSION);
}

}  // namespace

Row alert_row(const Alert& a, const RowLimits& limits) {
  return fit_row(
      [&](std::size_t field_limit) {
        RowWriter w(field_limit);
        build_columns(w, a);
        std::vector<std::string> truncated = w.truncated();
        return Row{version_key(a), a.last_modified_us, w.finish(), std::move(truncated)};
      },
      limits);
}

// The alert summary keeps its partition ids without a prefix ("inbound-00"): plans in Redis use them.
V1AlertsSource::V1AlertsSource(const SourceContext& ctx)
    : PagedSource("", ctx.config.etp_page_size, 200), client_(ctx.client), limits_(ctx.limits) {}

PageFetch V1AlertsSource::fetch() const {
  return [client = client_](const SummaryQuery& q) { return client->summary(q); };
}

RecordRows V1AlertsSource::rows() const {
  return [limits = limits_](const Alert& a, SourcePage& out) {
    out.rows.push_back(alert_row(a, limits));
    for (auto& l : lookups_for_alert(a.id, a.etp_message_id, a.traffic_type, a.last_modified_us))
      out.lookups.push_back(std::move(l));
  };
}

}  // namespace etp2s
