#include "common/log.h"

#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <mutex>

#include "common/secret.h"
#include "common/timefmt.h"

namespace etp2s {

Secret::Secret(std::string value) : value_(std::move(value)) {
  log::hold_secret(value_);
}

Secret::Secret(const Secret& other) : value_(other.value_) {
  log::hold_secret(value_);
}

Secret::Secret(Secret&& other) noexcept : value_(std::move(other.value_)) {
  other.value_.clear();  // the hold moved with the value; the source must not release it
}

Secret& Secret::operator=(const Secret& other) {
  if (this == &other) return *this;
  log::hold_secret(other.value_);  // before the release: a shared value must never drop to zero holds
  log::release_secret(value_);
  value_ = other.value_;
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this == &other) return *this;
  log::release_secret(value_);
  value_ = std::move(other.value_);
  other.value_.clear();
  return *this;
}

Secret::~Secret() {
  log::release_secret(value_);
}

namespace log {
namespace {

// Set when the registry is destroyed at exit: a Secret with static storage that outlives it must not
// touch it any more. An atomic<bool> is trivially destructible, so reading it then is still defined.
std::atomic<bool> g_state_gone{false};

struct State {
  std::mutex mu;
  // Value -> number of holds. Reverse order puts a value before its own prefixes, so the longer is masked.
  std::map<std::string, int, std::greater<>> secrets;
  std::function<void(const std::string&)> sink;
  Format format = Format::Json;
  bool terminal = false;
  std::vector<std::string> status;  // the live view
  std::size_t drawn = 0;            // lines of it on the terminal now
  Troubles troubles;
  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State() { g_state_gone = true; }
};
State& state() {
  static State s;
  return s;
}
std::atomic<int> g_level{static_cast<int>(Level::Info)};

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug:
      return "debug";
    case Level::Info:
      return "info";
    case Level::Warn:
      return "warn";
    case Level::Error:
      return "error";
  }
  return "info";
}

void replace_all(std::string& text, const std::string& needle) {
  if (needle.empty()) return;
  static const std::string kMask = "[REDACTED]";
  for (std::size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + kMask.size())) {
    text.replace(pos, needle.size(), kMask);
  }
}

std::string redact_locked(std::string text, const State& s) {
  for (const auto& [secret, holds] : s.secrets) replace_all(text, secret);
  return text;
}

// Very short values would mask innocent text; config validation rejects secrets this short anyway.
bool redactable(std::string_view secret) {
  return secret.size() >= 4;
}

// The value itself and its JSON-escaped spelling, which is what a log line would contain.
std::array<std::string, 2> spellings(std::string_view secret) {
  std::string escaped = nlohmann::json(std::string(secret)).dump();
  return {std::string(secret), escaped.substr(1, escaped.size() - 2)};
}

}  // namespace

bool parse_level(std::string_view text, Level& out) {
  if (text == "debug" || text == "trace")
    out = Level::Debug;
  else if (text == "info")
    out = Level::Info;
  else if (text == "warn" || text == "warning")
    out = Level::Warn;
  else if (text == "error")
    out = Level::Error;
  else
    return false;
  return true;
}

void set_level(Level l) {
  g_level = static_cast<int>(l);
}
Level level() {
  return static_cast<Level>(g_level.load());
}

void hold_secret(std::string_view secret) {
  if (!redactable(secret) || g_state_gone) return;
  auto names = spellings(secret);
  auto& s = state();
  std::lock_guard lock(s.mu);
  for (auto& name : names) ++s.secrets[std::move(name)];
}

void release_secret(std::string_view secret) {
  if (!redactable(secret) || g_state_gone) return;
  auto names = spellings(secret);
  auto& s = state();
  std::lock_guard lock(s.mu);
  for (const auto& name : names) {
    auto it = s.secrets.find(name);
    if (it != s.secrets.end() && --it->second == 0) s.secrets.erase(it);
  }
}

std::size_t registered_secret_count() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return s.secrets.size();
}

std::string redact(std::string text) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return redact_locked(std::move(text), s);
}

void set_sink(std::function<void(const std::string&)> sink) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.sink = std::move(sink);
}

namespace {
// A person's line: `HH:MM:SS.mmm LEVEL event key=value ...` (strings unquoted unless they hold a space).
std::string text_line(Level l, std::string_view event, const nlohmann::json& fields) {
  std::string ts = format_iso_ms(now_micros());
  std::string out = ts.substr(std::min<std::size_t>(11, ts.size()));
  std::string level = level_name(l);
  for (auto& ch : level) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  out += " " + level + " " + std::string(event);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      std::string v = it.value().is_string()
                          ? it.value().get<std::string>()
                          : it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      if (it.value().is_string() && (v.empty() || v.find(' ') != std::string::npos))
        v = it.value().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      out += " " + it.key() + "=" + v;
    }
  }
  return out;
}

void emit_locked(State& s, std::string text) {
  if (s.sink) return s.sink(text);
  text.push_back('\n');
  std::fwrite(text.data(), 1, text.size(), stderr);
}

// On a terminal: erase the live view (the cursor goes back to its first line), so a line can be written
// above.
void erase_status_locked(State& s) {
  if (!s.terminal || s.sink || s.drawn == 0) return;
  std::string esc = "\x1b[" + std::to_string(s.drawn) + "F\x1b[J";
  std::fwrite(esc.data(), 1, esc.size(), stderr);
  s.drawn = 0;
}

void draw_status_locked(State& s) {
  if (!s.terminal || s.sink) return;
  for (const auto& line : s.status) {
    std::string l = line + "\x1b[K\n";
    std::fwrite(l.data(), 1, l.size(), stderr);
  }
  s.drawn = s.status.size();
  std::fflush(stderr);
}
}  // namespace

void set_format(Format format, bool terminal) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.format = format;
  s.terminal = terminal && format == Format::Text;
}

Format format() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return s.format;
}

void set_status(const std::vector<std::string>& lines) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  if (s.format != Format::Text) return;
  erase_status_locked(s);
  s.status.clear();
  for (const auto& l : lines) s.status.push_back(redact_locked(l, s));
  if (s.terminal && !s.sink) return draw_status_locked(s);
  for (const auto& l : s.status) emit_locked(s, l);  // not a terminal: the view as plain lines
}

Troubles troubles() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  return s.troubles;
}

void write(Level l, std::string_view event, const nlohmann::json& fields) {
  if (l >= Level::Warn) {
    auto& s = state();
    std::lock_guard lock(s.mu);
    (l == Level::Warn ? s.troubles.warnings : s.troubles.errors) += 1;
    s.troubles.last = std::string(event);
  }
  if (static_cast<int>(l) < g_level.load()) return;
  if (format() == Format::Text) {
    std::string text = text_line(l, event, fields);
    auto& s = state();
    std::lock_guard lock(s.mu);
    erase_status_locked(s);
    emit_locked(s, redact_locked(std::move(text), s));
    draw_status_locked(s);
    return;
  }
  nlohmann::ordered_json line;
  line["ts"] = format_iso_ms(now_micros());
  line["level"] = level_name(l);
  line["event"] = std::string(event);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  auto& s = state();
  std::lock_guard lock(s.mu);
  emit_locked(s, redact_locked(std::move(text), s));
}

}  // namespace log
}  // namespace etp2s
