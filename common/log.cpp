#include "common/log.h"

#include <array>
#include <atomic>
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
