#include "common/json_guard.h"

namespace etp2s {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The code unit of a \uXXXX escape starting at s[i] (the backslash), or -1.
long escape_at(std::string_view s, std::size_t i) {
  if (i + 6 > s.size() || s[i] != '\\' || s[i + 1] != 'u') return -1;
  long v = 0;
  for (std::size_t k = i + 2; k < i + 6; ++k) {
    int d = hex_digit(s[k]);
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

// Length of the valid UTF-8 sequence at s[i] (a non-ASCII lead byte), or 0 if it is invalid (bad lead byte,
// missing continuation, overlong form, a surrogate, or beyond U+10FFFF).
std::size_t utf8_length(std::string_view s, std::size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
  if (n == 0 || c > 0xF4 || i + n > s.size()) return 0;
  unsigned long cp = c & (n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  bool overlong = (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
  bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
  return overlong || surrogate || cp > 0x10FFFF ? 0 : n;
}

}  // namespace

bool json_depth_within(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::size_t repair_json_text(std::string& text) {
  std::string_view s = text;
  std::string out;
  std::size_t fixes = 0;
  auto fix = [&](std::size_t at, std::string_view with) {
    if (fixes++ == 0) out.assign(s.substr(0, at));
    out += with;
  };
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = 1;
    if (c == '\\' && i + 1 < s.size()) {
      long v = escape_at(s, i);
      bool high = v >= 0xD800 && v <= 0xDBFF, low = v >= 0xDC00 && v <= 0xDFFF;
      long next = high ? escape_at(s, i + 6) : -1;
      if (high && next >= 0xDC00 && next <= 0xDFFF) {
        n = 12;  // a proper pair
      } else if (high || low) {
        fix(i, "\\uFFFD");
        i += 6;
        continue;
      } else {
        n = v >= 0 ? 6 : 2;  // any other escape, copied whole (so "\\\\u..." is not read as an escape)
      }
    } else if (c >= 0x80) {
      n = utf8_length(s, i);
      if (n == 0) {
        fix(i, kReplacement);
        ++i;
        continue;
      }
    }
    if (fixes > 0) out.append(s.substr(i, n));
    i += n;
  }
  if (fixes > 0) text = std::move(out);
  return fixes;
}

}  // namespace etp2s
