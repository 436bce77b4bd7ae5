#include "common/etp_model.h"

#include <functional>

#include "common/json_guard.h"

namespace etp2s {

std::string version_key(std::string_view etp_message_id, std::string_view id, Micros last_modified_us) {
  std::string key;
  key.reserve(etp_message_id.size() + id.size() + 24);
  key.append(etp_message_id).push_back('|');
  key.append(id).push_back('|');
  key.append(std::to_string(last_modified_us));
  return key;
}

std::string version_key(const Alert& a) {
  return version_key(a.etp_message_id, a.id, a.last_modified_us);
}

const OrderedJson* find_path(const OrderedJson& j, std::initializer_list<const char*> path) {
  const OrderedJson* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur;
}

std::string string_at(const OrderedJson& j, std::initializer_list<const char*> path) {
  const OrderedJson* v = find_path(j, path);
  if (!v || v->is_null()) return {};
  if (v->is_string()) return v->get<std::string>();
  return v->dump();
}

namespace {

std::optional<std::int64_t> int_at(const OrderedJson& j, std::initializer_list<const char*> path) {
  const OrderedJson* v = find_path(j, path);
  if (!v) return std::nullopt;
  if (v->is_number_integer()) return v->get<std::int64_t>();
  if (v->is_number()) return static_cast<std::int64_t>(v->get<double>());
  if (v->is_string()) {
    try {
      return std::stoll(v->get<std::string>());
    } catch (...) {
      return std::nullopt;
    }
  }
  return std::nullopt;
}

RejectedRecord reject(const OrderedJson& rec, std::string reason) {
  std::string raw = rec.dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  std::string text = raw.substr(0, 200);
  return {std::move(reason), std::move(text), std::move(raw)};
}

}  // namespace

// Parses vendor JSON: refused if nested deeper than any real answer; invalid UTF-8 and lone surrogates are
// repaired (U+FFFD) rather than making the whole page unreadable forever. `repaired`: places fixed.
OrderedJson parse_vendor_json(std::string_view body, std::size_t& repaired, std::string& why) {
  repaired = 0;
  if (!json_depth_within(body, kMaxVendorJsonDepth)) {
    why = "response nests deeper than " + std::to_string(kMaxVendorJsonDepth) + " levels";
    return OrderedJson(nlohmann::detail::value_t::discarded);
  }
  OrderedJson doc = OrderedJson::parse(body, nullptr, false);
  if (!doc.is_discarded()) return doc;
  std::string text(body);
  repaired = repair_json_text(text);
  if (repaired > 0) doc = OrderedJson::parse(text, nullptr, false);
  if (doc.is_discarded()) why = "response is not valid JSON";
  return doc;
}

namespace {

// The records of a page: objects with an id and a readable version time. `fill` sets last_modified_on (and
// whatever else the record shape holds) and returns why the record is refused if that time does not read.
void read_records(OrderedJson& items, SummaryPage& page, std::string_view traffic_type,
                  const std::function<const char*(const OrderedJson&, Alert&)>& fill) {
  page.alerts.reserve(items.size());
  for (auto& rec : items) {
    if (!rec.is_object()) {
      page.rejected.push_back(reject(rec, "record is not an object"));
      continue;
    }
    Alert a;
    a.id = string_at(rec, {"id"});
    if (a.id.empty()) {
      page.rejected.push_back(reject(rec, "record has no id"));
      continue;
    }
    a.traffic_type = std::string(traffic_type);
    const char* why = fill(rec, a);
    auto t = parse_time(a.last_modified_on);
    if (!t) {
      page.rejected.push_back(reject(rec, why));
      continue;
    }
    a.last_modified_us = *t;
    a.raw = std::move(rec);
    page.alerts.push_back(std::move(a));
  }
}

// A page of alert summaries or of trace records: the same envelope, the version time in another place.
Result<SummaryPage, std::string> parse_page(std::string_view body, std::string_view traffic_type,
                                            bool trace) {
  std::size_t repaired = 0;
  std::string why;
  OrderedJson doc = parse_vendor_json(body, repaired, why);
  if (doc.is_discarded()) return err(why);
  if (!doc.is_object()) return err(std::string("response is not a JSON object"));
  auto data = doc.find("data");
  if (data == doc.end() || !data->is_array()) return err(std::string("response has no data array"));

  SummaryPage page;
  page.repaired = repaired;
  page.total = int_at(doc, {"meta", "total"});
  page.meta_size = int_at(doc, {"meta", "size"});
  page.cursor_start = string_at(doc, {"meta", "fromLastModifiedOn", "start"});
  page.cursor_end = string_at(doc, {"meta", "fromLastModifiedOn", "end"});
  read_records(*data, page, traffic_type, [trace](const OrderedJson& rec, Alert& a) -> const char* {
    if (trace) {
      // The public samples nest the fields under `attributes`; the vendor's field list does not: accept both.
      const OrderedJson* fields = find_path(rec, {"attributes"});
      a.last_modified_on = string_at(fields && fields->is_object() ? *fields : rec, {"lastModifiedDateTime"});
      a.etp_message_id = a.id;  // a trace record's id is the message id
    } else {
      a.last_modified_on = string_at(rec, {"attributes", "meta", "last_modified_on"});
      a.etp_message_id = string_at(rec, {"attributes", "email", "etp_message_id"});
    }
    return trace ? "record has no readable lastModifiedDateTime"
                 : "record has no readable attributes.meta.last_modified_on";
  });
  return page;
}

}  // namespace

Result<SummaryPage, std::string> parse_v2_search(std::string_view body, std::string_view traffic_type) {
  std::size_t repaired = 0;
  std::string why;
  OrderedJson doc = parse_vendor_json(body, repaired, why);
  if (doc.is_discarded()) return err(why);
  if (!doc.is_object()) return err(std::string("response is not a JSON object"));
  OrderedJson* items = nullptr;
  if (auto d = doc.find("data"); d != doc.end()) {
    if (d->is_array()) {
      items = &*d;
    } else if (d->is_object()) {
      for (const char* k : {"alerts", "items"}) {
        if (auto i = d->find(k); i != d->end() && i->is_array()) items = &*i;
      }
    }
  } else if (auto a = doc.find("alerts"); a != doc.end() && a->is_array()) {
    items = &*a;
  }
  if (!items) return err(std::string("response has no data array"));
  SummaryPage page;
  page.repaired = repaired;
  page.total = int_at(doc, {"meta", "total"});
  page.meta_size = int_at(doc, {"meta", "size"});
  if (const OrderedJson* after = find_path(doc, {"meta", "search_after"})) page.search_after = *after;
  read_records(*items, page, traffic_type, [](const OrderedJson& rec, Alert& a) -> const char* {
    a.last_modified_on = string_at(rec, {"alert_date"});
    std::string traffic = string_at(rec, {"traffic_type"});
    if (!traffic.empty()) a.traffic_type = traffic;
    return "record has no readable alert_date";
  });
  return page;
}

Result<SummaryPage, std::string> parse_summary(std::string_view body, std::string_view traffic_type) {
  return parse_page(body, traffic_type, false);
}

Result<SummaryPage, std::string> parse_trace_page(std::string_view body, std::string_view traffic_type) {
  return parse_page(body, traffic_type, true);
}

std::vector<VendorError> parse_vendor_errors(std::string_view body) {
  std::vector<VendorError> out;
  std::size_t repaired = 0;
  std::string why;
  OrderedJson doc = parse_vendor_json(body, repaired, why);
  if (doc.is_discarded() || !doc.is_object()) return out;
  auto errors = doc.find("errors");
  if (errors == doc.end() || !errors->is_array()) return out;
  for (const auto& e : *errors) {
    if (!e.is_object()) continue;
    out.push_back({string_at(e, {"status"}), string_at(e, {"title"}), string_at(e, {"detail"}),
                   string_at(e, {"code"})});
  }
  return out;
}

std::string describe(const std::vector<VendorError>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "; ";
    out += e.code.empty() ? "" : e.code + " ";
    out += e.title;
    if (!e.detail.empty()) out += (e.title.empty() ? "" : ": ") + e.detail;
  }
  if (out.size() > 1000) out.resize(1000);
  return out;
}

}  // namespace etp2s
