#pragma once
// Test helper: a row has exactly its schema file's columns, in order, each value of the declared type (or
// null).
#include <gtest/gtest.h>

#include <string>

#include "common/stream.h"

namespace etp2s::testing {

inline void expect_schema_columns(const std::string& table, const std::string& row_json) {
  auto row = nlohmann::ordered_json::parse(row_json);
  const auto schema = find_stream(table)->document;
  const auto& cols = schema["columns"];
  ASSERT_EQ(row.size(), cols.size()) << row_json;
  std::size_t i = 0;
  for (auto it = row.begin(); it != row.end(); ++it, ++i) {
    EXPECT_EQ(it.key(), cols[i]["name"]) << i;
    const std::string type = cols[i]["type"];
    const auto& v = it.value();
    if (v.is_null()) continue;
    bool ok = type == "dynamic" || ((type == "string" || type == "datetime") && v.is_string()) ||
              (type == "long" && v.is_number_integer()) || (type == "boolean" && v.is_boolean());
    EXPECT_TRUE(ok) << it.key() << " should be " << type;
  }
}

}  // namespace etp2s::testing
