#pragma once
// A small, move-only HTTP client over one libcurl easy handle (connection reuse per client).
// TLS verification is always on; plain http is allowed only to loopback hosts; redirects are never followed.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "common/secret.h"

namespace etp2s {

struct Url {
  std::string scheme, host, port, path;  // path includes query
};
std::optional<Url> parse_url(std::string_view url);
bool is_loopback_host(std::string_view host);
// Whether plain http to the Azure IMDS address (169.254.169.254) is allowed: only for the identity variables.
enum class AllowImds : bool { No, Yes };
// nullopt if the URL may be used; otherwise why not (e.g. http to a non-loopback host).
std::optional<std::string> check_url_allowed(std::string_view url, AllowImds imds = AllowImds::No);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // HTTP Basic credentials, kept out of the header list so nothing prints them.
  std::optional<std::pair<std::string, Secret>> basic_auth;
};

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  double seconds = 0;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct TransportError {
  int curl_code = 0;
  bool timeout = false;
  std::string message;
};

struct HttpOptions {
  long connect_timeout_ms = 10'000;
  long total_timeout_ms = 60'000;
  std::string ca_bundle;  // empty: the system store
  std::size_t max_body_bytes = 64 * 1024 * 1024;
};

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  Result<HttpResponse, TransportError> send(const HttpRequest& request);
  const HttpOptions& options() const { return options_; }

 private:
  struct Handle;
  HttpOptions options_;
  std::unique_ptr<Handle> handle_;
};

// Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); nullopt if absent or invalid.
std::optional<double> parse_retry_after(const std::string& value, long long now_epoch_s);

std::string url_encode(std::string_view text);

}  // namespace etp2s
