#pragma once
// The vendor's v1 alert envelope, parsed tolerantly: absent fields are empty, unknown fields are kept,
// and each alert object is kept whole (key order preserved) for shipping as RawAlert.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/timefmt.h"

namespace etp2s {

using OrderedJson = nlohmann::ordered_json;

struct Alert {
  std::string id;
  std::string etp_message_id;
  std::string last_modified_on;  // as the vendor spelled it
  Micros last_modified_us = 0;
  std::string traffic_type;  // from the query; the record does not carry it
  OrderedJson raw;           // data[i] exactly as received
  std::string raw_text;      // data[i] serialised, when at hand: saves a dump on the shipper's hot path
};

// The identity of one shipped row: (etp_message_id, id, last_modified_on).
std::string version_key(const Alert& a);
std::string version_key(std::string_view etp_message_id, std::string_view id, Micros last_modified_us);

struct VendorError {
  std::string status, title, detail, code;
};

struct RejectedRecord {
  std::string reason;
  std::string excerpt;  // at most 200 bytes of the record (for the log line)
  std::string raw;      // the whole record (for the dead letter list)
};

// A page of alerts (or of trace records: parse_trace_page).
struct SummaryPage {
  std::vector<Alert> alerts;
  std::vector<RejectedRecord> rejected;  // records without an id or a readable last_modified_on
  std::optional<std::int64_t> total;
  std::optional<std::int64_t> meta_size;  // may disagree with alerts.size(): never trusted for paging
  std::string cursor_start, cursor_end;   // meta.fromLastModifiedOn
  std::size_t repaired = 0;  // invalid UTF-8 / lone surrogates replaced by U+FFFD (counted, logged)
  OrderedJson search_after;  // v2: meta.search_after (opaque; null when absent, i.e. no hits)
};

// Vendor JSON, defended (common/json_guard.h): discarded with `why` if too deep or unreadable after repair.
OrderedJson parse_vendor_json(std::string_view body, std::size_t& repaired, std::string& why);

// Fails (with a reason) only if the body is not a JSON object with a "data" array.
Result<SummaryPage, std::string> parse_summary(std::string_view body, std::string_view traffic_type = "");
// A page of POST /api/v1/messages/trace: the same envelope; each record's id is its etp_message_id, its
// version time `lastModifiedDateTime` (under `attributes`, or at the top level). Records are handed on as
// Alerts.
Result<SummaryPage, std::string> parse_trace_page(std::string_view body, std::string_view traffic_type = "");
// A page of the v2 alert search (POST /api/v2/public/alerts/search). No public sample exists: the items are
// read where the vendor's description puts them (a `data` array), also under data.alerts / data.items or a
// top-level `alerts` array. Each item is handed on as an Alert whose version time is its `alert_date` (v2
// carries no modification time) and whose etp_message_id is empty (v2 search items carry none).
Result<SummaryPage, std::string> parse_v2_search(std::string_view body, std::string_view traffic_type = "");
// The errors[] of an error envelope; empty if none or unparsable.
std::vector<VendorError> parse_vendor_errors(std::string_view body);
std::string describe(const std::vector<VendorError>& errors);

// Safe accessors for optional nested fields.
const OrderedJson* find_path(const OrderedJson& j, std::initializer_list<const char*> path);
std::string string_at(const OrderedJson& j, std::initializer_list<const char*> path);

}  // namespace etp2s
