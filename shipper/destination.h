#pragma once
// Where rows go: the Logs Ingestion API (default) or the legacy Data Collector API. A destination makes one
// attempt per call and classifies the answer; the Shipper decides about retries, splitting and stopping.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/azure_credentials.h"
#include "common/http.h"
#include "common/protocol.h"
#include "common/row.h"
#include "common/secret.h"

namespace etp2s {

struct PostResult {
  // Delivered: 2xx, Azure accepted every row. RetryLater: 429, 5xx, timeouts, resets, a refused token (once).
  // Refused: 413 (too_large: split and retry the halves) or 400/403/404 and other 4xx (the operator must
  // act).
  Outcome outcome = Outcome::RetryLater;
  bool too_large = false;
  long status = 0;
  std::optional<double> retry_after_s;
  std::string request_id;  // x-ms-request-id (or client request id)
  std::string message;
  std::size_t bytes_sent = 0;
};

class Destination {
 public:
  virtual ~Destination() = default;
  // body: a JSON array of rows (UTF-8).
  virtual PostResult post(const std::string& body) = 0;
  virtual std::size_t max_body_bytes() const = 0;
  virtual RowLimits row_limits() const = 0;
  virtual std::string name() const = 0;
};

struct LogsIngestionSettings {
  std::string dce_url;
  std::string dcr_id;
  std::string stream = "Custom-FireEyeETPAlerts_CL";
  HttpOptions http;
  int gzip_level = 1;
};

class LogsIngestionDestination final : public Destination {
 public:
  static constexpr std::size_t kMaxBody = 1'000'000;  // 1 MB, compressed and uncompressed
  LogsIngestionDestination(LogsIngestionSettings s, std::shared_ptr<TokenCredential> credential);
  PostResult post(const std::string& body) override;
  std::size_t max_body_bytes() const override { return kMaxBody; }
  RowLimits row_limits() const override { return kLogsIngestionLimits; }
  std::string name() const override { return "logs-ingestion"; }
  std::size_t last_compressed_bytes() const { return last_compressed_; }

 private:
  LogsIngestionSettings s_;
  std::shared_ptr<TokenCredential> credential_;
  HttpClient http_;
  bool refreshed_after_401_ = false;
  std::size_t last_compressed_ = 0;
};

struct DataCollectorSettings {
  std::string url;  // https://<workspace>.ods.opinsights.azure.com
  std::string workspace_id;
  Secret shared_key;  // base64
  std::string log_type = "FireEyeETPAlerts";
  HttpOptions http;
  // The stream's own column that holds the record time (StreamSchema::time_generated_column), named in the
  // time-generated-field header; empty: no header, Azure stamps the ingestion time.
  std::string time_generated_field = "LastModifiedOn";
};

// The Data Collector API refuses a whole post if any record carries one of these property names.
inline constexpr std::string_view kDataCollectorReserved[] = {"TimeGenerated", "tenant", "RawData"};

// A Logs Ingestion body (JSON array of rows) made fit for the Data Collector API: TimeGenerated, which that
// API reserves, is left out of every record (its value travels in the time-generated-field column). Other
// reserved names are not renamed: no schema has them (checked), and a refused post stops the shipper loudly.
std::string data_collector_body(const std::string& body);

// Authorization header value for the Data Collector API, over the UTF-8 byte length of the body.
std::string shared_key_authorization(const std::string& workspace_id, const Secret& base64_key,
                                     std::size_t content_length_bytes, const std::string& rfc1123_date);

class DataCollectorDestination final : public Destination {
 public:
  static constexpr std::size_t kMaxBody = 25'000'000;  // under the 30 MB limit
  explicit DataCollectorDestination(DataCollectorSettings s, Clock clock = now_micros);
  PostResult post(const std::string& body) override;
  std::size_t max_body_bytes() const override { return kMaxBody; }
  RowLimits row_limits() const override { return kDataCollectorLimits; }
  std::string name() const override { return "data-collector"; }

 private:
  DataCollectorSettings s_;
  Clock clock_;
  HttpClient http_;
};

// The outcome of a non-2xx answer (shared by both destinations).
PostResult classify_post(long status, const HttpResponse& r, std::string_view what);

}  // namespace etp2s
