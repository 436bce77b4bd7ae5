#include "common/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <set>

#include "common/secret.h"
#include "common/timefmt.h"

namespace etp2s {

Secret::Secret(std::string value) : value_(std::move(value)) {
  log::register_secret(value_);
}

namespace log {
namespace {

struct State {
  std::mutex mu;
  std::set<std::string, std::greater<>> secrets;  // longest-first is not needed: each is replaced fully
  std::function<void(const std::string&)> sink;
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
  for (const auto& secret : s.secrets) replace_all(text, secret);
  return text;
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

void register_secret(std::string_view secret) {
  // Very short values would mask innocent text; config validation rejects secrets this short anyway.
  if (secret.size() < 4) return;
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.secrets.emplace(secret);
  // The JSON-escaped spelling is what a log line would contain.
  std::string escaped = nlohmann::json(std::string(secret)).dump();
  s.secrets.emplace(escaped.substr(1, escaped.size() - 2));
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

void write(Level l, std::string_view event, const nlohmann::json& fields) {
  if (static_cast<int>(l) < g_level.load()) return;
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
  text = redact_locked(std::move(text), s);
  if (s.sink) {
    s.sink(text);
  } else {
    text.push_back('\n');
    std::fwrite(text.data(), 1, text.size(), stderr);
  }
}

}  // namespace log
}  // namespace etp2s
