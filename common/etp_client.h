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
  std::string message;      // operator-readable, never contains a secret
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

struct EtpClientOptions {
  std::string base_url;
  HttpOptions http;
};

class EtpClient {
 public:
  EtpClient(EtpClientOptions options, std::shared_ptr<EtpAuth> auth, Clock clock = now_micros);

  Result<SummaryPage, EtpError> summary(const SummaryQuery& q);
  // One page of the whole message trace (POST /api/v1/messages/trace), oldest first; records as Alerts whose
  // id and etp_message_id are the message id.
  Result<SummaryPage, EtpError> trace_page(const SummaryQuery& q);
  // nullopt: not found (meta.total == 0). The alert object (data[0]) otherwise.
  Result<std::optional<OrderedJson>, EtpError> details(const std::string& alert_id);
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
  Result<std::optional<OrderedJson>, EtpError> lookup(const std::string& path, std::string_view what);
  EtpClientOptions options_;
  std::shared_ptr<EtpAuth> auth_;
  Clock clock_;
  HttpClient http_;
};

}  // namespace etp2s
