#pragma once
// Structured logs: one JSON object per line on stderr. Every line passes through the redactor.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace etp2s::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

bool parse_level(std::string_view text, Level& out);
void set_level(Level level);
Level level();

// Secrets held here are replaced by "[REDACTED]" in every log line and in redact(). Holds are counted per
// value: a value stays redacted until every hold on it is released. Secret (common/secret.h) holds its
// value for its lifetime; use it rather than these two calls.
void hold_secret(std::string_view secret);
void release_secret(std::string_view secret);
// How many distinct spellings are redacted now (a value and its JSON-escaped form may be two).
std::size_t registered_secret_count();
std::string redact(std::string text);

// Tests capture lines; nullptr restores stderr.
void set_sink(std::function<void(const std::string&)> sink);

void write(Level level, std::string_view event, const nlohmann::json& fields = nlohmann::json::object());
inline void debug(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Debug, e, f);
}
inline void info(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Info, e, f);
}
inline void warn(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Warn, e, f);
}
inline void error(std::string_view e, const nlohmann::json& f = nlohmann::json::object()) {
  write(Level::Error, e, f);
}

}  // namespace etp2s::log
