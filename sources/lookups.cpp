#include "sources/lookups.h"

#include <set>

#include "common/etp_model.h"
#include "common/state.h"
#include "sources/trace.h"
#include "sources/v2_alerts.h"

namespace etp2s {
namespace {

constexpr std::size_t kCandidates = 64;  // queue entries looked at per has_work() call

// A string field as text (vendors are not always consistent about types).
std::string text_at(const OrderedJson& j, std::initializer_list<const char*> path) {
  const OrderedJson* v = find_path(j, path);
  if (!v || v->is_null()) return {};
  return v->is_string() ? v->get<std::string>() : v->dump();
}

// The values of `field` in an array of objects (the malware list's hashes).
OrderedJson pluck(const OrderedJson* list, const char* field) {
  OrderedJson out = OrderedJson::array();
  if (!list || !list->is_array()) return out;
  for (const auto& m : *list) {
    if (m.is_object() && m.contains(field) && m[field].is_string()) out.push_back(m[field]);
  }
  return out;
}

// What one kind of lookup needs: its request and its row.
struct LookupKind {
  std::string source, queue, stream, route;
  bool optional = false;
  std::function<Result<std::optional<OrderedJson>, EtpError>(EtpClient&, const Lookup&)> fetch;
  std::function<std::optional<Row>(const Lookup&, const OrderedJson&, const RowLimits&)> row;
  // Lookups a record calls for in turn (a v2 alert's details name its message, whose trace is looked up).
  std::function<std::vector<Lookup>(const Lookup&, const OrderedJson&)> follow = {};
};

class LookupReader final : public PageReader {
 public:
  LookupReader(const LookupKind& kind, std::shared_ptr<EtpClient> client, Redis& redis,
               const std::string& prefix, long long capacity, RowLimits limits)
      : kind_(kind),
        client_(std::move(client)),
        queue_(redis, prefix, kind.queue, capacity),
        store_(redis, prefix),
        limits_(limits) {}

  // The newest entry not yet handed out in this lease and not yet delivered (entries whose lookup was already
  // delivered — a page re-read after a crash queues them again — leave the queue here, without a request).
  bool has_work() override {
    if (current_) return true;
    auto entries = queue_.newest(kCandidates);
    if (!entries) return false;  // Redis unreachable: end the lease; the coordinator hands it out again
    std::vector<Lookup> fresh;
    for (auto& e : entries.value()) {
      if (!handed_.count(e.id)) fresh.push_back(std::move(e));
    }
    if (fresh.empty()) return false;
    std::vector<DeliveredVersion> marks;
    for (const auto& e : fresh) marks.push_back(lookup_mark(e));
    auto seen = store_.delivered(marks);
    if (!seen) return false;
    std::vector<Lookup> stale;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (seen.value()[i]) {
        stale.push_back(fresh[i]);
      } else if (!current_) {
        current_ = fresh[i];
      }
    }
    (void)queue_.done(stale);
    return current_.has_value();
  }

  Result<SourcePage, EtpError> read_page() override {
    if (!has_work()) return SourcePage{};
    Lookup l = *current_;
    current_.reset();
    handed_.insert(l.id);
    auto rec = kind_.fetch(*client_, l);
    if (!rec) return err(rec.error());
    SourcePage page;
    page.records = rec.value() ? 1 : 0;
    page.looked_up.push_back(l);
    if (!rec.value()) {
      page.not_found = true;
      return page;
    }
    if (auto row = kind_.row(l, *rec.value(), limits_)) {
      page.rows.push_back(std::move(*row));
      if (kind_.follow) page.lookups = kind_.follow(l, *rec.value());
    } else {
      std::string raw = rec.value()->dump();
      page.rejected.push_back(kind_.queue + " " + l.id + ": unusable record");
      page.set_aside.push_back({kind_.queue + "|" + l.id, "unusable " + kind_.queue + " record", raw});
    }
    return page;
  }

 private:
  const LookupKind& kind_;
  std::shared_ptr<EtpClient> client_;
  LookupQueue queue_;
  StateStore store_;
  RowLimits limits_;
  std::optional<Lookup> current_;
  std::set<std::string> handed_;
};

class LookupSource final : public Source {
 public:
  LookupSource(LookupKind kind, const SourceContext& ctx)
      : kind_(std::move(kind)),
        client_(ctx.client),
        redis_(ctx.redis),
        prefix_(ctx.prefix),
        capacity_(ctx.config.etp_lookup_queue_max),
        limits_(ctx.limits) {}
  std::string name() const override { return kind_.source; }
  std::string stream() const override { return kind_.stream; }
  std::string route() const override { return kind_.route; }
  bool lookup() const override { return true; }
  bool optional() const override { return kind_.optional; }
  // One open-ended partition: whoever holds it drains the queue.
  std::vector<Partition> plan(const PlanWindow& w) const override {
    Partition p;
    p.id = kind_.source;
    p.source = kind_.source;
    p.traffic_type = "any";
    p.start_us = w.now_us;
    return {p};
  }
  std::unique_ptr<PageReader> open(const ReadScope&) override {
    if (!redis_) return nullptr;
    return std::make_unique<LookupReader>(kind_, client_, *redis_, prefix_, capacity_, limits_);
  }
  std::optional<ReadScope> sweep_scope(const std::string&, const std::string&, const std::string&,
                                       int) const override {
    return std::nullopt;
  }

 private:
  LookupKind kind_;
  std::shared_ptr<EtpClient> client_;
  Redis* redis_;
  std::string prefix_;
  long long capacity_;
  RowLimits limits_;
};

std::pair<std::string, std::string> split_trace_id(const std::string& id) {
  auto bar = id.find('|');
  if (bar == std::string::npos) return {"inbound", id};
  return {id.substr(0, bar), id.substr(bar + 1)};
}

}  // namespace

std::string lookup_queue_of(const std::string& source) {
  if (source == kDetailsSource) return kDetailsQueue;
  if (source == kTraceAlertedSource) return kTraceQueue;
  return {};
}

std::vector<Lookup> lookups_for_alert(const std::string& alert_id, const std::string& etp_message_id,
                                      const std::string& traffic_type, Micros last_modified_us) {
  std::vector<Lookup> out;
  if (!alert_id.empty()) out.push_back({kDetailsQueue, alert_id, last_modified_us});
  if (!etp_message_id.empty())
    out.push_back({kTraceQueue, traffic_type + "|" + etp_message_id, last_modified_us});
  return out;
}

DeliveredVersion lookup_mark(const Lookup& l) {
  return {"lookup|" + l.queue + "|" + l.id, l.time_us};
}

namespace {

// v2 details (GET /api/v2/public/alerts/{id}): no public sample; the keys are documented as hyphenated
// (`downloaded-at`), so each field is read hyphenated or with underscores, at the top or under
// `email`/`alert`.
std::string v2_text(const OrderedJson& r, const char* hyphenated, const char* underscored) {
  for (const OrderedJson* o : {&r, find_path(r, {"email"}), find_path(r, {"alert"})}) {
    if (!o || !o->is_object()) continue;
    for (const char* k : {hyphenated, underscored}) {
      std::string v = text_at(*o, {k});
      if (!v.empty()) return v;
    }
  }
  return {};
}

std::string v2_message_id(const OrderedJson& r) {
  std::string id = v2_text(r, "etp-message-id", "etp_message_id");
  return id.empty() ? v2_text(r, "message-id", "message_id") : id;
}

// One details row, from either API's record (columns in sources/schema/FireEyeETPAlertDetails_CL.json).
struct DetailsFields {
  std::string id, message_id, api, severity, action, name, ack, email_status;
  const OrderedJson* malware = nullptr;
  OrderedJson md5, sha256;
  const OrderedJson* explanation = nullptr;
  const OrderedJson* raw = nullptr;  // the record (without what has a column of its own)
};

Row details_columns(const Lookup& l, const DetailsFields& f, const RowLimits& limits) {
  Micros now = now_micros();
  return fit_row(
      [&](std::size_t field_limit) {
        RowWriter w(field_limit);
        w.time_us("TimeGenerated", l.time_us);
        w.string("AlertId", f.id);
        w.string("EtpMessageId", f.message_id);
        w.time_us("LastModifiedOn", l.time_us);
        w.time_us("LookedUpAt", now);
        w.string("ApiVersion", f.api);
        w.string("Severity", f.severity);
        w.string("Action", f.action);
        w.string("Name", f.name);
        w.string("Ack", f.ack);
        w.string("EmailStatus", f.email_status);
        w.dynamic("Malware", f.malware);
        w.dynamic("Md5", &f.md5);
        w.dynamic("Sha256", &f.sha256);
        w.dynamic("Explanation", f.explanation);
        w.dynamic("RawDetails", f.raw);
        w.truncated_fields();
        w.string("ConnectorVersion", ETP2S_VERSION);
        std::vector<std::string> truncated = w.truncated();
        return Row{"details|" + f.id + "|" + std::to_string(l.time_us), l.time_us, w.finish(),
                   std::move(truncated)};
      },
      limits);
}

}  // namespace

std::optional<Row> details_row(const Lookup& l, const OrderedJson& r, const RowLimits& limits) {
  if (!r.is_object()) return std::nullopt;
  DetailsFields f;
  f.id = text_at(r, {"id"});
  if (f.id.empty()) f.id = parse_details_id(l.id).alert_id;
  if (!r.contains("attributes")) {  // v2's flat record
    f.message_id = v2_message_id(r);
    f.api = "v2";
    f.severity = v2_text(r, "severity", "severity");
    f.action = v2_text(r, "action", "action");
    f.name = v2_text(r, "name", "name");
    f.ack = v2_text(r, "ack", "ack");
    f.email_status = v2_text(r, "email-status", "email_status");
    f.malware = find_path(r, {"malware"});
    f.md5 = pluck(f.malware, "md5");
    if (f.md5.empty()) f.md5 = pluck(f.malware, "md5sum");
    f.sha256 = pluck(f.malware, "sha256");
    f.explanation = find_path(r, {"explanation"});
    f.raw = &r;
    return details_columns(l, f, limits);
  }
  f.message_id = text_at(r, {"attributes", "email", "etp_message_id"});
  f.api = "v1";
  f.severity = text_at(r, {"attributes", "alert", "severity"});
  f.action = text_at(r, {"attributes", "alert", "action"});
  f.name = text_at(r, {"attributes", "alert", "name"});
  f.ack = text_at(r, {"attributes", "alert", "ack"});
  f.email_status = text_at(r, {"attributes", "email", "status"});
  f.explanation = find_path(r, {"attributes", "alert", "explanation"});
  f.malware = f.explanation ? find_path(*f.explanation, {"malware_detected", "malware"}) : nullptr;
  f.md5 = pluck(f.malware, "md5sum");
  f.sha256 = pluck(f.malware, "sha256");
  OrderedJson rest = r;  // the record without its explanation (which has its own column)
  if (auto a = rest.find("attributes"); a != rest.end() && a->is_object()) {
    if (auto alert = a->find("alert"); alert != a->end() && alert->is_object()) alert->erase("explanation");
  }
  f.raw = &rest;
  return details_columns(l, f, limits);
}

std::optional<Row> trace_row(const Lookup& l, const OrderedJson& r, const RowLimits& limits) {
  auto [traffic, msg_id] = split_trace_id(l.id);
  return trace_row(traffic, kTraceOriginAlerted, msg_id, l.time_us, r, limits);
}

// Details of a v2 alert ("v2|traffic|id") through v2; of a v1 alert through v1 — with ETP_API=auto, through
// v2 once v1 is known retired, or for an id whose v1 details answered 404/410 (retired, or the alert is gone:
// v2 says which on the next attempt).
std::unique_ptr<Source> make_details_source(const SourceContext& ctx) {
  auto ask_v2 = std::make_shared<std::set<std::string>>();
  std::string api = ctx.config.etp_api;
  auto fetch = [api, ask_v2](EtpClient& c, const Lookup& l) -> Result<std::optional<OrderedJson>, EtpError> {
    DetailsId d = parse_details_id(l.id);
    if (d.v2 || api == "v2" || (api == "auto" && (v1_known_retired() || ask_v2->count(l.id))))
      return c.details_v2(d.alert_id);
    auto r = c.details(d.alert_id, api != "auto");
    if (!r && r.error().retired) {
      if (ask_v2->size() > 100000) ask_v2->clear();
      ask_v2->insert(l.id);
    }
    return r;
  };
  // A v2 alert's message is known only now: its trace is looked up next (ETP_TRACE=alerted).
  auto follow = [](const Lookup& l, const OrderedJson& r) {
    std::vector<Lookup> out;
    DetailsId d = parse_details_id(l.id);
    std::string msg = r.contains("attributes") ? "" : v2_message_id(r);
    if (d.v2 && !msg.empty()) out.push_back({kTraceQueue, d.traffic_type + "|" + msg, l.time_us});
    return out;
  };
  LookupKind k{kDetailsSource, kDetailsQueue, kDetailsTable, "alerts", false, fetch, details_row, follow};
  return std::make_unique<LookupSource>(std::move(k), ctx);
}

std::unique_ptr<Source> make_trace_alerted_source(const SourceContext& ctx) {
  LookupKind k{
      kTraceAlertedSource,
      kTraceQueue,
      kTraceTable,
      "trace",
      true,
      [](EtpClient& c, const Lookup& l) {
        auto [traffic, msg_id] = split_trace_id(l.id);
        return c.message_trace(msg_id, traffic);
      },
      [](const Lookup& l, const OrderedJson& r, const RowLimits& limits) { return trace_row(l, r, limits); }};
  return std::make_unique<LookupSource>(std::move(k), ctx);
}

}  // namespace etp2s
