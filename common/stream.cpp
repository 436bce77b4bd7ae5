#include "common/stream.h"

#include <mutex>

#include "common/schema_files.h"  // generated from sources/schema/*.json

namespace etp2s {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<StreamSchema> all;
  Registry() {
    for (const char* text : kSchemaFiles)
      all.push_back(parse_stream_schema(nlohmann::json::parse(text)).value());
  }
};
Registry& registry() {
  static Registry r;
  return r;
}

bool is_datetime_column(const nlohmann::json& c) {
  return c.contains("type") && c["type"] == "datetime";
}

Result<std::string, std::string> resolve_time_generated_column(const nlohmann::json& d) {
  const nlohmann::json* time_generated = nullptr;
  for (const auto& c : d["columns"]) {
    if (c["name"] == "TimeGenerated") time_generated = &c;
  }
  if (d.contains("time_generated_column")) {
    const auto& named = d["time_generated_column"];
    for (const auto& c : d["columns"]) {
      if (named.is_string() && c["name"] == named && named != "TimeGenerated" && is_datetime_column(c))
        return named.get<std::string>();
    }
    return err(std::string("time_generated_column must name a datetime column other than TimeGenerated"));
  }
  if (!time_generated || !time_generated->contains("source") || !(*time_generated)["source"].is_string())
    return std::string();
  for (const auto& c : d["columns"]) {
    if (&c != time_generated && is_datetime_column(c) && c.contains("source") &&
        c["source"] == (*time_generated)["source"])
      return c["name"].get<std::string>();
  }
  return std::string();
}

}  // namespace

std::vector<std::string> StreamSchema::column_names() const {
  std::vector<std::string> out;
  for (const auto& c : document["columns"]) out.push_back(c["name"].get<std::string>());
  return out;
}

Result<StreamSchema, std::string> parse_stream_schema(const nlohmann::json& d) {
  if (!d.is_object() || !d.contains("table") || !d["table"].is_string() || !d.contains("columns") ||
      !d["columns"].is_array())
    return err(std::string("a stream schema needs \"table\" (a string) and \"columns\" (an array)"));
  StreamSchema s;
  s.table = d["table"].get<std::string>();
  if (s.table.size() < 4 || s.table.substr(s.table.size() - 3) != "_CL")
    return err("stream schema table '" + s.table + "' must end in _CL");
  for (const auto& c : d["columns"]) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() || !c.contains("type"))
      return err("stream schema " + s.table + ": every column needs a name and a type");
  }
  auto time_column = resolve_time_generated_column(d);
  if (!time_column) return err("stream schema " + s.table + ": " + time_column.error());
  s.time_generated_column = time_column.value();
  s.stream =
      d.contains("stream") && d["stream"].is_string() ? d["stream"].get<std::string>() : "Custom-" + s.table;
  s.log_type = s.table.substr(0, s.table.size() - 3);
  s.document = d;
  return s;
}

std::vector<StreamSchema> streams() {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  return r.all;
}

std::optional<StreamSchema> find_stream(const std::string& table) {
  auto& r = registry();
  std::lock_guard lock(r.mu);
  for (const auto& s : r.all) {
    if (s.table == table) return s;
  }
  return std::nullopt;
}

Result<StreamSchema, std::string> register_stream(const nlohmann::json& document) {
  auto s = parse_stream_schema(document);
  if (!s) return s;
  auto& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& known : r.all) {
    if (known.table == s->table) return known = s.value();
  }
  r.all.push_back(s.value());
  return s;
}

}  // namespace etp2s
