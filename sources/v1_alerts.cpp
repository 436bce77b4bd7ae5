#include "sources/v1_alerts.h"

#include <algorithm>
#include <cctype>

#include "common/log.h"
#include "common/metrics.h"
#include "sources/lookups.h"
#include "sources/v2_alerts.h"

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

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Reads v1 until the vendor answers it as retired, then the same scope through v2 from where v1 stood.
class SwitchingReader final : public PageReader {
 public:
  SwitchingReader(std::unique_ptr<PageReader> v1, ReadScope scope, V1AlertsSource& source)
      : v1_(std::move(v1)), scope_(std::move(scope)), source_(source) {}

  Result<SourcePage, EtpError> read_page() override {
    if (v2_) {
      auto page = v2_->read_page();
      if (page && pending_gap_ && !page->gap) {
        page->gap = std::move(pending_gap_);
        pending_gap_.reset();
      }
      return page;
    }
    auto page = v1_->read_page();
    if (page) {
      scope_.cursor = page->cursor;
      return page;
    }
    if (!page.error().retired) return page;
    source_.on_v1_retired(page.error().message);
    v2_ = source_.open_v2(scope_);
    // v1 pages by modification time and shows each alert at its current one; v2 pages by creation time. An
    // alert created before this place and modified after it, that v1 had not reached, is on no v2 page from
    // here: a partition still catching up (a backfill) records that possible hole as a gap; one at the head
    // (steady state, where v1 delivered every alert when it was created) loses only the modification, as v2
    // does anyway.
    auto at = cursor_time(scope_.cursor);
    if (at && *at < now_micros() - source_.catch_up_margin_us())
      pending_gap_ =
          Gap{"modified-after/" + format_vendor(*at), 0,
              "v1 was retired here while this partition was catching up: alerts created before this "
              "time and modified after it that v1 had not reached yet are on no v2 page (v2 has no "
              "modification time); they cannot be told apart — compare with the vendor's portal"};
    EtpError e;
    e.disposition = Disposition::Retry;
    e.retry_after_s = 0;
    e.message = "the v1 alert API is retired: reading on through the v2 alert search from " + scope_.cursor;
    return err(std::move(e));
  }

  Unreadable unreadable(SourcePage& skipped) override {
    return v2_ ? v2_->unreadable(skipped) : v1_->unreadable(skipped);
  }

 private:
  std::unique_ptr<PageReader> v1_, v2_;
  ReadScope scope_;
  V1AlertsSource& source_;
  std::optional<Gap> pending_gap_;
};

// The domain part of each address in a list ("a@x.com, B <b@y.com>").
std::vector<std::string> address_domains(std::string_view list) {
  std::vector<std::string> out;
  for (std::size_t at = list.find('@'); at != std::string_view::npos; at = list.find('@', at + 1)) {
    std::size_t end = at + 1;
    while (end < list.size() && list[end] != '>' && list[end] != ',' && list[end] != ';' &&
           !std::isspace(static_cast<unsigned char>(list[end])))
      ++end;
    out.push_back(lower(std::string(list.substr(at + 1, end - at - 1))));
  }
  return out;
}

}  // namespace

bool in_domains(const Alert& a, const std::vector<std::string>& domains) {
  if (domains.empty()) return true;
  Text who =
      text_at(a.raw, {"attributes", "email", "smtp", a.traffic_type == "outbound" ? "mail_from" : "rcpt_to"});
  auto found = address_domains(who.view);
  if (found.empty()) return true;  // nothing to tell by: kept
  for (const auto& d : found) {
    for (const auto& want : domains) {
      if (d == lower(want)) return true;
    }
  }
  return false;
}

// The alert summary keeps its partition ids without a prefix ("inbound-00"): plans in Redis use them.
V1AlertsSource::V1AlertsSource(const SourceContext& ctx)
    : PagedSource("", ctx.config.etp_page_size, 200),
      config_(ctx.config),
      client_(ctx.client),
      limits_(ctx.limits),
      redis_(ctx.redis),
      prefix_(ctx.prefix) {
  set_tie_filters(config_.etp_tie_email_statuses, config_.etp_tie_alert_types);
  if (client_) {
    bool v2 = config_.etp_api == "v2" || v1_known_retired();
    Metrics::get().alert_api("v1").Set(v2 ? 0 : 1);
    Metrics::get().alert_api("v2").Set(v2 ? 1 : 0);
    Metrics::get().v1_retired().Set(v1_known_retired() ? 1 : 0);
  }
}

// With v2 and ETP_DOMAINS: the time × traffic type slices once per domain (the search filters by domain[]),
// with the fetchers' share split among the domains. v1 documents no domain filter: one set of partitions.
std::vector<Partition> V1AlertsSource::plan(const PlanWindow& w) const {
  if (config_.etp_api != "v2" || w.domains.empty()) return PagedSource::plan(w);
  PlanWindow per = w;
  const int n = static_cast<int>(w.domains.size());
  per.fetchers = std::max(1, (w.fetchers + n - 1) / n);
  std::vector<Partition> out;
  for (const auto& d : w.domains) {
    for (auto& p : PagedSource::plan(per)) {
      p.id += "@" + d;
      p.domain = d;
      out.push_back(std::move(p));
    }
  }
  return out;
}

bool V1AlertsSource::v1_retired() {
  if (v1_known_retired()) return true;
  if (!redis_) return false;
  StateStore store(*redis_, prefix_);
  auto r = store.v1_retired();
  if (!r || !r.value()) return false;  // Redis away: v1 is tried, and its answer says
  mark_v1_retired_here();
  Metrics::get().alert_api("v1").Set(0);
  Metrics::get().alert_api("v2").Set(1);
  Metrics::get().v1_retired().Set(1);
  return true;
}

void V1AlertsSource::on_v1_retired(const std::string& detail) {
  bool first = mark_v1_retired_here();
  Metrics::get().alert_api("v1").Set(0);
  Metrics::get().alert_api("v2").Set(1);
  Metrics::get().v1_retired().Set(1);
  if (first)
    log::error("etp.v1_retired",
               {{"error", detail},
                {"message",
                 "the vendor answers the v1 alert API as retired: reading alerts through the v2 search from "
                 "where v1 stood. v2 rows carry no etp_message_id until their details arrive (ETP_DETAILS), "
                 "cost one request per alert for them, and alert modifications are no longer seen "
                 "(docs/operations.md, \"v1 retired\")"}});
  if (redis_) {
    StateStore store(*redis_, prefix_);
    if (auto ok = store.set_v1_retired(detail); !ok)
      log::warn("etp.v1_retired_not_recorded", {{"error", ok.error()}});
  }
}

std::unique_ptr<PageReader> V1AlertsSource::open_v2(const ReadScope& scope) {
  V2ReadOptions o;
  o.traffic_type = scope.traffic_type;
  o.domains = scope.domain.empty() ? config_.etp_domains : std::vector<std::string>{scope.domain};
  o.size = std::clamp(config_.etp_page_size, 1, 200);
  o.end_us = scope.end_us;
  o.floor_cursor = scope.floor_cursor;
  return open_v2_reader(
      client_, std::move(o), scope.cursor, [limits = limits_](const Alert& a, SourcePage& out) {
        out.rows.push_back(v2_alert_row(a, limits));
        out.lookups.push_back({kDetailsQueue, v2_details_id(a.traffic_type, a.id), a.last_modified_us});
      });
}

std::unique_ptr<PageReader> V1AlertsSource::open(const ReadScope& scope) {
  if (config_.etp_api == "v2") return open_v2(scope);
  if (config_.etp_api == "auto" && v1_retired()) return open_v2(scope);
  auto v1 = PagedSource::open(scope);
  if (config_.etp_api != "auto") return v1;
  return std::make_unique<SwitchingReader>(std::move(v1), scope, *this);
}

PageFetch V1AlertsSource::fetch() const {
  return [client = client_](const SummaryQuery& q) { return client->summary(q); };
}

RecordRows V1AlertsSource::rows() const {
  return [limits = limits_, &domains = config_.etp_domains](const Alert& a, SourcePage& out) {
    if (!in_domains(a, domains)) return;  // ETP_DOMAINS with v1: read, not shipped
    out.rows.push_back(alert_row(a, limits));
    for (auto& l : lookups_for_alert(a.id, a.etp_message_id, a.traffic_type, a.last_modified_us))
      out.lookups.push_back(std::move(l));
  };
}

}  // namespace etp2s
