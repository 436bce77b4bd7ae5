#pragma once
// The row each alert version becomes in FireEyeETPAlerts_CL. The column list lives in one machine-readable
// place, shipper/schema/FireEyeETPAlerts_CL.json, embedded at build time; tests check rows against it.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/etp_model.h"

namespace etp2s {

// The schema document (table, stream, columns with name/type/source/description).
const nlohmann::json& row_schema();

struct RowLimits {
  // Azure truncates fields silently past its limit (Logs Ingestion 64 KB, Data Collector 32 KB);
  // the shipper truncates first, below the limit, and says so in TruncatedFields.
  std::size_t field_bytes = 64 * 1000;
};
constexpr RowLimits kLogsIngestionLimits{64 * 1000};
constexpr RowLimits kDataCollectorLimits{32 * 1000};

struct Row {
  std::string version_key;
  std::string json;  // one JSON object, the row
  std::vector<std::string> truncated;
};

// details: the alert details object (enrichment) or nullptr.
Row build_row(const Alert& alert, const OrderedJson* details, const RowLimits& limits = kLogsIngestionLimits);

// JSON string escaping, the same as nlohmann's dump but without building a json value.
void append_json_string(std::string& out, std::string_view s);

}  // namespace etp2s
