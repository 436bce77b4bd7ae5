#include "common/timefmt.h"

#include <chrono>
#include <cstdio>
#include <cstring>

namespace etp2s {
namespace {

// Howard Hinnant's days_from_civil.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct Civil {
  std::int64_t y;
  unsigned m, d;
};
Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp + (mp < 10 ? 3 : -9);
  return {y + (m <= 2), m, d};
}

class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}
  bool digits(int n, int& out) {
    if (pos_ + n > s_.size()) return false;
    int v = 0;
    for (int i = 0; i < n; ++i) {
      char c = s_[pos_ + i];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    pos_ += n;
    out = v;
    return true;
  }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool done() const { return pos_ == s_.size(); }
  void skip() { ++pos_; }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
};

bool parse_zone(Scanner& sc, Micros& offset) {
  offset = 0;
  if (sc.done()) return true;
  if (sc.eat('Z') || sc.eat('z')) return sc.done();
  char sign = sc.peek();
  if (sign != '+' && sign != '-') return false;
  sc.skip();
  int hh = 0, mm = 0;
  if (!sc.digits(2, hh)) return false;
  if (sc.eat(':')) {
    if (!sc.digits(2, mm)) return false;
  } else if (!sc.done() && sc.peek() != 'Z') {
    if (!sc.digits(2, mm)) return false;
  }
  if (hh > 23 || mm > 59) return false;
  sc.eat('Z');  // "+0000Z" as seen in the vendor's activity logs
  offset = (sign == '+' ? 1 : -1) * (static_cast<Micros>(hh) * 3600 + mm * 60) * kMicrosPerSecond;
  return sc.done();
}

}  // namespace

std::optional<Micros> parse_time(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  Scanner sc(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (!sc.digits(4, y) || !sc.eat('-') || !sc.digits(2, mo) || !sc.eat('-') || !sc.digits(2, d))
    return std::nullopt;
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  Micros frac = 0, offset = 0;
  if (!sc.done()) {
    if (!sc.eat('T') && !sc.eat('t') && !sc.eat(' ')) return std::nullopt;
    if (!sc.digits(2, h) || !sc.eat(':') || !sc.digits(2, mi)) return std::nullopt;
    if (sc.eat(':') && !sc.digits(2, s)) return std::nullopt;
    if (h > 23 || mi > 59 || s > 60) return std::nullopt;
    if (sc.eat('.') || sc.eat(',')) {
      int n = 0;
      Micros scale = 100000;
      int digit = 0;
      while (sc.digits(1, digit)) {
        if (n < 6) frac += digit * scale;
        scale /= 10;
        ++n;
      }
      if (n == 0) return std::nullopt;
    }
    if (!parse_zone(sc, offset)) return std::nullopt;
  }
  // Reject impossible dates like 2023-02-30 by a round trip.
  std::int64_t days = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  Civil c = civil_from_days(days);
  if (c.m != static_cast<unsigned>(mo) || c.d != static_cast<unsigned>(d)) return std::nullopt;
  Micros t = days * kMicrosPerDay + (static_cast<Micros>(h) * 3600 + mi * 60 + s) * kMicrosPerSecond + frac;
  return t - offset;
}

namespace {
std::string format(Micros t, bool zulu) {
  std::int64_t days = t >= 0 ? t / kMicrosPerDay : -((-t + kMicrosPerDay - 1) / kMicrosPerDay);
  Micros rem = t - days * kMicrosPerDay;
  Civil c = civil_from_days(days);
  long secs = static_cast<long>(rem / kMicrosPerSecond);
  long ms = static_cast<long>((rem % kMicrosPerSecond) / 1000);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02ld:%02ld:%02ld.%03ld%s", static_cast<long long>(c.y),
                c.m, c.d, secs / 3600, (secs / 60) % 60, secs % 60, ms, zulu ? "Z" : "");
  return buf;
}
}  // namespace

std::string format_iso_ms(Micros t) {
  return format(t, true);
}
std::string format_vendor(Micros t) {
  return format(t, false);
}
std::string format_day(Micros t) {
  return format(t, false).substr(0, 10);
}

std::string format_rfc1123(Micros t) {
  static const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t days = t / kMicrosPerDay;
  long secs = static_cast<long>((t % kMicrosPerDay) / kMicrosPerSecond);
  Civil c = civil_from_days(days);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02ld:%02ld:%02ld GMT", kDays[((days % 7) + 7) % 7], c.d,
                kMonths[c.m - 1], static_cast<long long>(c.y), secs / 3600, (secs / 60) % 60, secs % 60);
  return buf;
}

std::optional<Micros> parse_rfc1123(std::string_view text) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  char wd[4] = {}, mon[4] = {}, zone[4] = {};
  int d = 0, y = 0, h = 0, mi = 0, s = 0;
  std::string copy(text);
  if (std::sscanf(copy.c_str(), "%3s, %d %3s %d %d:%d:%d %3s", wd, &d, mon, &y, &h, &mi, &s, zone) != 8) {
    return std::nullopt;
  }
  if (std::strcmp(zone, "GMT") != 0 && std::strcmp(zone, "UTC") != 0) return std::nullopt;
  for (unsigned m = 0; m < 12; ++m) {
    if (std::strcmp(mon, kMonths[m]) == 0) {
      char iso[32];
      std::snprintf(iso, sizeof iso, "%04d-%02u-%02dT%02d:%02d:%02dZ", y, m + 1, d, h, mi, s);
      return parse_time(iso);
    }
  }
  return std::nullopt;
}

Micros now_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<Micros> cursor_time(std::string_view cursor) {
  return parse_time(cursor.substr(0, cursor.find('~')));
}

}  // namespace etp2s
