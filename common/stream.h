#pragma once
// Streams: one Sentinel table each, described by one schema file (sources/schema/<Table>.json: table, DCR
// stream, columns). The files are compiled in; tests may add more at run time. The shipper maps a row
// batch's stream to its destination from here; sources take their column names from here.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace etp2s {

struct StreamSchema {
  std::string table;     // FireEyeETPAlerts_CL — also the stream's name inside the pipeline
  std::string stream;    // Custom-FireEyeETPAlerts_CL — the DCR stream (Logs Ingestion)
  std::string log_type;  // FireEyeETPAlerts — the Data Collector Log-Type
  // The column that carries the record time in the legacy Data Collector API, which reserves TimeGenerated
  // (the post names it in the time-generated-field header): the document's "time_generated_column", else the
  // datetime column read from the same vendor field as TimeGenerated; empty if neither (ingestion time).
  std::string time_generated_column;
  nlohmann::json document;
  std::vector<std::string> column_names() const;
};

// Err: what is wrong with the document (table must end in _CL, columns need name and type).
Result<StreamSchema, std::string> parse_stream_schema(const nlohmann::json& document);

// Every known stream: the compiled-in files plus any registered at run time.
std::vector<StreamSchema> streams();
std::optional<StreamSchema> find_stream(const std::string& table);
Result<StreamSchema, std::string> register_stream(const nlohmann::json& document);

}  // namespace etp2s
