#include "common/row.h"

#include <algorithm>

namespace etp2s {

RowLimits row_limits_for_mode(std::string_view sentinel_mode) {
  return sentinel_mode == "data-collector" ? kDataCollectorLimits : kLogsIngestionLimits;
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

}  // namespace

RowWriter::RowWriter(std::size_t field_limit) : limit_(field_limit) {
  out_.reserve(2048);
  out_.push_back('{');
}

void RowWriter::key(const char* name) {
  if (out_.size() > 1) out_.push_back(',');
  out_.push_back('"');
  out_ += name;
  out_ += "\":";
}

void RowWriter::string(const char* name, std::string_view value) {
  key(name);
  bool cut = false;
  out_ += fit_string(value, limit_, cut);
  if (cut) truncated_.emplace_back(name);
}

void RowWriter::time(const char* name, std::string_view vendor_text) {
  auto t = parse_time(vendor_text);
  if (!t) {
    raw(name, "null");
    return;
  }
  time_us(name, *t);
}

void RowWriter::time_us(const char* name, Micros t) {
  key(name);
  append_json_string(out_, format_iso_ms(t));
}

void RowWriter::number_text(const char* name, std::string_view digits) {
  bool ok = !digits.empty() && digits.size() < 19 && std::all_of(digits.begin(), digits.end(), ::isdigit);
  raw(name, ok ? digits : "null");
}

void RowWriter::boolean(const char* name, const bool* value) {
  raw(name, !value ? "null" : *value ? "true" : "false");
}

void RowWriter::raw(const char* name, std::string_view json_text) {
  key(name);
  out_ += json_text;
}

template <class J>
void RowWriter::dynamic_impl(const char* name, const J* value) {
  key(name);
  if (!value || value->is_null()) {
    out_ += "null";
    return;
  }
  bool cut = false;
  out_ += fit_json(*value, limit_, cut);
  if (cut) truncated_.emplace_back(name);
}
void RowWriter::dynamic(const char* name, const nlohmann::ordered_json* value) {
  dynamic_impl(name, value);
}
void RowWriter::dynamic(const char* name, const nlohmann::json* value) {
  dynamic_impl(name, value);
}

void RowWriter::truncated_fields() {
  key("TruncatedFields");
  out_.push_back('[');
  for (std::size_t i = 0; i < truncated_.size(); ++i) {
    if (i > 0) out_.push_back(',');
    append_json_string(out_, truncated_[i]);
  }
  out_.push_back(']');
}

std::string RowWriter::finish() {
  out_.push_back('}');
  return std::move(out_);
}

Row fit_row(const std::function<Row(std::size_t field_limit)>& build, const RowLimits& limits) {
  std::size_t limit = limits.field_bytes;
  Row row = build(limit);
  // Many columns of up to the field limit could exceed one call: shrink every field further rather than fail.
  while (row.json.size() > limits.row_bytes && limit > 1024) {
    limit /= 4;
    row = build(limit);
  }
  return row;
}

void add_column(Row& row, std::string_view name, std::string_view value_json) {
  if (row.json.size() < 2 || row.json.back() != '}') return;
  std::string col = row.json.size() > 2 ? "," : "";
  append_json_string(col, name);
  col += ':';
  col += value_json;
  row.json.insert(row.json.size() - 1, col);
}

}  // namespace etp2s
