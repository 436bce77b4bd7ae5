#pragma once
// The ETP v1 alerts client. It never retries by itself: every attempt spends the customer-wide
// budget, so it returns a classified error and the caller decides (after acquiring a budget permit).
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/etp_model.h"
#include "common/http.h"
#include "common/result.h"
#include "common/secret.h"
#include "common/token_cache.h"

namespace etp2s {

enum class Disposition { Fatal, Retry };

struct EtpError {
  Disposition disposition = Disposition::Retry;
  int http_status = 0;  // 0: no HTTP answer (timeout, reset, refused)
  std::optional<double> retry_after_s;
  bool rate_limited = false;
  bool auth = false;
  bool unreadable = false;  // HTTP 200 with a body that cannot be read, even after repairs
  bool retired = false;  // the v1 alert API answered 404/410: switched off by the vendor (ETP_API=auto: v2)
  std::string message;   // operator-readable, never contains a secret
  std::vector<VendorError> vendor;
  bool fatal() const { return disposition == Disposition::Fatal; }
};

// The classification table (one place, tested as one table).
EtpError classify_http(long status, const std::string& body, const std::string& retry_after_header,
                       std::string_view what, long long now_epoch_s);
EtpError classify_transport(const TransportError& e, std::string_view what);

// Supplies the auth header for each call.
class EtpAuth {
 public:
  virtual ~EtpAuth() = default;
  virtual Result<std::pair<std::string, std::string>, EtpError> header() = 0;
  // Called after a 401. Returns true if one more attempt may succeed (a fresh token will be fetched).
  virtual bool on_unauthorized() = 0;
  virtual void on_success() {}
  virtual std::string scheme() const = 0;
};

class ApiKeyAuth final : public EtpAuth {
 public:
  explicit ApiKeyAuth(Secret key) : key_(std::move(key)) {}
  Result<std::pair<std::string, std::string>, EtpError> header() override;
  bool on_unauthorized() override { return false; }
  std::string scheme() const override { return "api-key"; }

 private:
  Secret key_;
};

struct OAuthSettings {
  std::string token_url;
  std::string client_id;
  Secret client_secret;
  std::string scopes;
  HttpOptions http;
};

// Trellix IAM client credentials: token cached, refreshed shortly before expiry and once after a 401.
class OAuthClientCredentials final : public EtpAuth {
 public:
  explicit OAuthClientCredentials(OAuthSettings settings, Clock clock = now_micros);
  Result<std::pair<std::string, std::string>, EtpError> header() override;
  bool on_unauthorized() override { return cache_.refresh_after_unauthorized(); }
  void on_success() override { cache_.accepted(); }
  std::string scheme() const override { return "oauth"; }
  int token_fetches() const { return cache_.fetches(); }

 private:
  Result<FreshToken, EtpError> fetch_token();
  EtpError refused(const HttpResponse& r) const;
  OAuthSettings s_;
  Clock clock_;
  HttpClient http_;
  TokenCache cache_;
};

struct SummaryQuery {
  std::optional<std::string> from_last_modified_on;
  int size = 200;  // 1..200; 0 = count only (meta.total)
  std::string traffic_type = "inbound";
  OrderedJson attributes = OrderedJson::object();  // legacy_id, etp_message_id, email_status[], alert_types[]
  std::string attributes_key = "attributes";       // the vendor's examples also spell it "attribute"
};

// The JSON body for POST /api/v1/alerts, or why the query is invalid.
Result<std::string, std::string> build_summary_body(const SummaryQuery& q);
// The JSON body for POST /api/v1/messages/trace (from_last_modified_on, size up to 300, traffic_type; the
// alert filters are not used).
inline constexpr int kTracePageMax = 300;
Result<std::string, std::string> build_trace_body(const SummaryQuery& q);

// The v2 alert search (POST /api/v2/public/alerts/search): a closed date range (both ends inclusive, whole
// seconds, RFC 3339), oldest first, paged through ties by the opaque `search_after` of the previous page.
struct V2SearchQuery {
  Micros from_us = 0, to_us = 0;  // inclusive; sent floored to the second
  std::string traffic_type = "inbound";
  std::vector<std::string> domains;  // domain[]; empty: every domain the key may see
  int size = 200;                    // 1..200; 0: count only (meta.total)
  OrderedJson search_after;          // null: from the start of the range
};
Result<std::string, std::string> build_v2_search_body(const V2SearchQuery& q);
// 2022-11-22T11:33:52Z (v2's RFC 3339, whole seconds, floored).
std::string format_rfc3339_s(Micros t);

struct EtpClientOptions {
  std::string base_url;
  HttpOptions http;
};

class EtpClient {
 public:
  EtpClient(EtpClientOptions options, std::shared_ptr<EtpAuth> auth, Clock clock = now_micros);

  // A 404/410 answer is a Fatal error with `retired` set (the route never answers "not found").
  Result<SummaryPage, EtpError> summary(const SummaryQuery& q);
  // One page of the v2 alert search; records as Alerts (version time: alert_date; no etp_message_id).
  Result<SummaryPage, EtpError> search_v2(const V2SearchQuery& q);
  // GET /api/v2/public/alerts/{id}: the record (wrapped in `data` or not: both are read); nullopt: 404.
  Result<std::optional<OrderedJson>, EtpError> details_v2(const std::string& alert_id);
  // One page of the whole message trace (POST /api/v1/messages/trace), oldest first; records as Alerts whose
  // id and etp_message_id are the message id.
  Result<SummaryPage, EtpError> trace_page(const SummaryQuery& q);
  // nullopt: not found (meta.total == 0). The alert object (data[0]) otherwise. `http404_not_found` false: an
  // HTTP 404 or 410 is an error with `retired` set (ETP_API=auto: v1 may have been switched off; ask v2).
  Result<std::optional<OrderedJson>, EtpError> details(const std::string& alert_id,
                                                       bool http404_not_found = true);
  // POST `path` with a JSON body; the parsed answer (invalid UTF-8 repaired, depth-limited). A 200 whose body
  // is not a JSON object or array is a Retry error.
  Result<OrderedJson, EtpError> post_json(const std::string& path, const std::string& body,
                                          std::string_view what);
  // One message's trace (GET /api/v1/messages/{id}); nullopt: not found (purged, or never traced).
  Result<std::optional<OrderedJson>, EtpError> message_trace(const std::string& etp_message_id,
                                                             const std::string& traffic_type);

 private:
  Result<HttpResponse, EtpError> call(HttpRequest req, std::string_view what);
  using PageParser = Result<SummaryPage, std::string> (*)(std::string_view, std::string_view);
  Result<SummaryPage, EtpError> page(const std::string& path, Result<std::string, std::string> body,
                                     std::string_view what, const std::string& traffic_type,
                                     PageParser parse);
  Result<std::optional<OrderedJson>, EtpError> lookup(const std::string& path, std::string_view what,
                                                      bool http404_not_found = true);
  EtpClientOptions options_;
  std::shared_ptr<EtpAuth> auth_;
  Clock clock_;
  HttpClient http_;
};

}  // namespace etp2s
