#include "shipper/row.h"

#include <algorithm>

#include "shipper/schema_data.h"

namespace etp2s {

const nlohmann::json& row_schema() {
  static const nlohmann::json schema = nlohmann::json::parse(kRowSchemaJson);
  return schema;
}

void append_json_string(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  out.push_back('"');
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 15]);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out.push_back('"');
}

namespace {

constexpr const char* kTruncMark = "...[truncated by etp2sentinel]";

std::size_t utf8_floor(std::string_view s, std::size_t n) {
  if (n >= s.size()) return s.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return n;
}

std::string escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

// A string that fits `limit` bytes once escaped; sets `cut` if it had to be shortened.
std::string fit_string(std::string_view s, std::size_t limit, bool& cut) {
  std::string e = escaped(s);
  if (e.size() <= limit) return e;
  cut = true;
  std::size_t mark = std::char_traits<char>::length(kTruncMark) + 2;
  std::size_t keep = limit > mark ? limit - mark : 0;
  for (;;) {
    keep = utf8_floor(s, keep);
    std::string candidate(s.substr(0, keep));
    candidate += kTruncMark;
    e = escaped(candidate);
    if (e.size() <= limit || keep == 0) return e;
    keep -= std::min(keep, e.size() - limit);
  }
}

// Shortens the largest string leaves of a JSON value until its serialisation fits.
template <class J>
std::string fit_json(J value, std::size_t limit, bool& cut) {
  std::string s = value.dump(-1, ' ', false, J::error_handler_t::replace);
  for (int round = 0; s.size() > limit && round < 64; ++round) {
    cut = true;
    J* biggest = nullptr;
    std::size_t biggest_size = 0;
    std::vector<J*> stack{&value};
    while (!stack.empty()) {
      J* v = stack.back();
      stack.pop_back();
      if (v->is_string()) {
        std::size_t n = v->template get_ref<const std::string&>().size();
        if (n > biggest_size) biggest = v, biggest_size = n;
      } else if (v->is_structured()) {
        for (auto& child : *v) stack.push_back(&child);
      }
    }
    std::size_t excess = s.size() - limit;
    if (!biggest || biggest_size <= 64) break;
    const std::string& str = biggest->template get_ref<const std::string&>();
    std::size_t keep = biggest_size > excess + 64 ? biggest_size - excess - 64 : 0;
    keep = utf8_floor(str, keep);
    *biggest = str.substr(0, keep) + kTruncMark;
    s = value.dump(-1, ' ', false, J::error_handler_t::replace);
  }
  if (s.size() > limit) {
    // Thousands of small strings: keep a valid, clearly marked excerpt rather than an invalid fragment.
    cut = true;
    bool ignored = false;
    return "{\"_truncated\":true,\"excerpt\":" + fit_string(s, limit - 40, ignored) + "}";
  }
  return s;
}

class RowWriter {
 public:
  RowWriter(std::size_t limit, std::vector<std::string>& truncated) : limit_(limit), truncated_(truncated) {
    out_.reserve(2048);
    out_.push_back('{');
  }
  void key(const char* name) {
    if (out_.size() > 1) out_.push_back(',');
    out_.push_back('"');
    out_ += name;
    out_ += "\":";
  }
  void string(const char* name, std::string_view value) {
    key(name);
    bool cut = false;
    out_ += fit_string(value, limit_, cut);
    if (cut) truncated_.emplace_back(name);
  }
  void raw(const char* name, std::string_view json_text) {
    key(name);
    out_ += json_text;
  }
  template <class J>
  void dynamic(const char* name, const J* value) {
    key(name);
    if (!value || value->is_null()) {
      out_ += "null";
      return;
    }
    bool cut = false;
    out_ += fit_json(*value, limit_, cut);
    if (cut) truncated_.emplace_back(name);
  }
  void time(const char* name, std::string_view vendor_text) {
    key(name);
    auto t = parse_time(vendor_text);
    if (!t) {
      out_ += "null";
      return;
    }
    append_json_string(out_, format_iso_ms(*t));
  }
  std::string finish() {
    out_.push_back('}');
    return std::move(out_);
  }
  std::string& buffer() { return out_; }

 private:
  std::size_t limit_;
  std::vector<std::string>& truncated_;
  std::string out_;
};

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

void number_or_null(RowWriter& w, const char* name, const OrderedJson* v) {
  w.key(name);
  if (v && v->is_number_integer()) {
    w.buffer() += std::to_string(v->get<std::int64_t>());
  } else if (v && v->is_string()) {
    const std::string& s = v->get_ref<const std::string&>();
    bool digits = !s.empty() && s.size() < 19 && std::all_of(s.begin(), s.end(), ::isdigit);
    w.buffer() += digits ? s : "null";
  } else {
    w.buffer() += "null";
  }
}

void bool_or_null(RowWriter& w, const char* name, const OrderedJson* v) {
  w.key(name);
  w.buffer() += v && v->is_boolean() ? (v->get<bool>() ? "true" : "false") : "null";
}

}  // namespace

Row build_row(const Alert& a, const OrderedJson* details, const RowLimits& limits) {
  Row row;
  row.version_key = version_key(a);
  const OrderedJson& r = a.raw;
  RowWriter w(limits.field_bytes, row.truncated);
  const std::string lmo = format_iso_ms(a.last_modified_us);
  w.key("TimeGenerated");
  append_json_string(w.buffer(), lmo);
  w.string("AlertId", a.id);
  w.string("EtpMessageId", a.etp_message_id);
  number_or_null(w, "LegacyId", at(r, {"attributes", "meta", "legacy_id"}));
  w.string("TrafficType", a.traffic_type);
  w.key("LastModifiedOn");
  append_json_string(w.buffer(), lmo);
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
  bool_or_null(w, "Acknowledged", at(r, {"attributes", "meta", "acknowledged"}));
  bool_or_null(w, "Read", at(r, {"attributes", "meta", "read"}));
  w.dynamic("Ati", at(r, {"attributes", "ati"}));
  w.dynamic("Details", details);
  if (!a.raw_text.empty() && a.raw_text.size() <= limits.field_bytes) {
    w.raw("RawAlert", a.raw_text);
  } else {
    w.dynamic("RawAlert", &r);
  }
  w.key("TruncatedFields");
  std::string names = "[";
  for (const auto& n : row.truncated) {
    if (names.size() > 1) names.push_back(',');
    append_json_string(names, n);
  }
  names.push_back(']');
  w.buffer() += names;
  w.string("ConnectorVersion", ETP2S_VERSION);
  row.json = w.finish();
  return row;
}

}  // namespace etp2s
