#pragma once
// A row: one JSON object ready for a Sentinel table, with the key it is deduplicated on and the vendor time
// that decides which day's marks hold that key. Sources build rows (sources/), shippers only move them.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/timefmt.h"

namespace etp2s {

struct Row {
  std::string key;                     // dedupe key, unique within its stream (e.g. an alert version)
  Micros time_us = 0;                  // vendor time of the record: decides the dedupe marks' day
  std::string json;                    // one JSON object, no newline
  std::vector<std::string> truncated;  // columns shortened to fit (not on the wire: named in the row itself)
};

struct RowLimits {
  // Azure truncates fields silently past its limit (Logs Ingestion 64 KB, Data Collector 32 KB);
  // rows are truncated first, below the limit, and say so in TruncatedFields.
  std::size_t field_bytes = 64 * 1000;
  std::size_t row_bytes = 1'000'000 - 2;  // one row must fit in one call on its own
};
constexpr RowLimits kLogsIngestionLimits{64 * 1000, 1'000'000 - 2};
constexpr RowLimits kDataCollectorLimits{32 * 1000, 25'000'000 - 2};
// The limits of the destination SENTINEL_MODE names.
RowLimits row_limits_for_mode(std::string_view sentinel_mode);

// JSON string escaping, the same as nlohmann's dump but without building a json value.
void append_json_string(std::string& out, std::string_view s);

// Builds one row column by column, truncating each field to the limit (named in truncated()).
class RowWriter {
 public:
  explicit RowWriter(std::size_t field_limit);
  void string(const char* name, std::string_view value);
  void time(const char* name, std::string_view vendor_text);  // ISO 8601 ms, or null if unreadable
  void time_us(const char* name, Micros t);
  void number_text(const char* name, std::string_view digits);  // a JSON number, or null if not digits
  void boolean(const char* name, const bool* value);            // null if absent
  void raw(const char* name, std::string_view json_text);       // already valid JSON, within the limit
  void dynamic(const char* name, const nlohmann::ordered_json* value);  // null if absent
  void dynamic(const char* name, const nlohmann::json* value);
  // The TruncatedFields column: the names of the columns written so far that had to be shortened.
  void truncated_fields();
  std::string finish();
  const std::vector<std::string>& truncated() const { return truncated_; }
  std::size_t field_limit() const { return limit_; }

 private:
  void key(const char* name);
  template <class J>
  void dynamic_impl(const char* name, const J* value);
  std::size_t limit_;
  std::vector<std::string> truncated_;
  std::string out_;
};

// Builds a row with `build(field_limit)` and, while it would not fit in one call on its own, builds it again
// with every field cut harder.
Row fit_row(const std::function<Row(std::size_t field_limit)>& build, const RowLimits& limits);

// Adds one column to a finished row (enrichment steps): `value_json` must be valid JSON.
void add_column(Row& row, std::string_view name, std::string_view value_json);

}  // namespace etp2s
