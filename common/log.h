#pragma once
// Structured logs: one JSON object per line on stderr. Every line passes through the redactor.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

// Json: one JSON object a line (for machines: compose, Azure, journald). Text: for a person — one readable
// line per event (`time LEVEL event key=value ...`) and a status block (set_status) that, on a terminal,
// stays at the bottom and is redrawn in place. LOG_FORMAT=json|text|auto (auto: text when stderr is a
// terminal).
enum class Format { Json, Text };
void set_format(Format format, bool terminal);
Format format();
// Text format: the live view (e.g. the backfill's progress), redrawn in place on a terminal, printed as lines
// otherwise. Json format: ignored (the progress is logged as events).
void set_status(const std::vector<std::string>& lines);
// Warnings and errors written so far, and the event of the last one (the live view shows them).
struct Troubles {
  long long warnings = 0, errors = 0;
  std::string last;
};
Troubles troubles();

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
