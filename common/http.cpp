#include "common/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <mutex>

#include "common/timefmt.h"

namespace etp2s {
namespace {

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct Sink {
  HttpResponse* response;
  std::size_t limit;
  bool overflow = false;
};

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::size_t bytes = size * n;
  if (sink->response->body.size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->response->body.append(data, bytes);
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  std::size_t bytes = size * n;
  std::string_view line(data, bytes);
  if (line.rfind("HTTP/", 0) == 0) sink->response->headers.clear();  // a new response (e.g. after 100)
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
      value.remove_suffix(1);
    }
    sink->response->headers[name] = std::string(value);
  }
  return bytes;
}

}  // namespace

struct HttpClient::Handle {
  CurlPtr curl;
};

namespace {

// Spaces and control characters are never part of a URL; curl would reject or mangle them at request time
// (and retry forever), so they are refused when the URL is read.
bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c <= 0x20 || c == 0x7f; });
}

// A port is 1-65535 written in decimal; "99999" or "" would make every request fail, never the config.
bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5) return false;
  int n = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + (c - '0');
  }
  return n >= 1 && n <= 65535;
}

// Host names: letters, digits, '-', '.', '_' (compose service names); bracketed IPv6: hex digits, ':', '.'.
bool valid_host(std::string_view h, bool bracketed) {
  auto ok = [bracketed](unsigned char c) {
    if (bracketed) return std::isxdigit(c) || c == ':' || c == '.';
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  };
  return !h.empty() && std::all_of(h.begin(), h.end(), ok);
}

// Splits "host[:port]" or "[v6][:port]"; false if the brackets or the port are malformed.
bool split_authority(std::string_view authority, Url& u) {
  bool bracketed = !authority.empty() && authority.front() == '[';
  if (bracketed) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return false;
    u.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return false;
      u.port = std::string(after.substr(1));
      if (!valid_port(u.port)) return false;
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      u.port = std::string(authority.substr(colon + 1));
      if (!valid_port(u.port)) return false;
    }
  }
  return valid_host(u.host, bracketed);
}

// One decimal IPv4 part, 0-255, without leading zeros (curl reads "0127" as octal: 87, not 127).
std::optional<int> ipv4_part(std::string_view p) {
  if (p.empty() || p.size() > 3 || (p.size() > 1 && p.front() == '0')) return std::nullopt;
  int n = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n > 255) return std::nullopt;
  return n;
}

// The first octet of a dotted-quad IPv4 address, if host is exactly one.
std::optional<int> ipv4_first_octet(std::string_view host) {
  std::optional<int> first;
  for (int i = 0; i < 4; ++i) {
    auto dot = host.find('.');
    if ((i < 3) == (dot == std::string_view::npos)) return std::nullopt;  // exactly three dots
    auto part = ipv4_part(host.substr(0, dot));
    if (!part) return std::nullopt;
    if (i == 0) first = part;
    host = dot == std::string_view::npos ? std::string_view() : host.substr(dot + 1);
  }
  return first;
}

}  // namespace

std::optional<Url> parse_url(std::string_view url) {
  if (has_space_or_control(url)) return std::nullopt;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::nullopt;
  Url u;
  u.scheme = std::string(url.substr(0, scheme_end));
  std::transform(u.scheme.begin(), u.scheme.end(), u.scheme.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string_view rest = url.substr(scheme_end + 3);
  auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  u.path = path_start == std::string_view::npos ? "/" : std::string(rest.substr(path_start));
  if (authority.find('@') != std::string_view::npos) return std::nullopt;  // no credentials in URLs
  if (!split_authority(authority, u)) return std::nullopt;
  if (u.scheme != "http" && u.scheme != "https") return std::nullopt;
  std::transform(u.host.begin(), u.host.end(), u.host.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return u;
}

// By the parsed host, never a prefix: "127.evil.example" is a name anyone can point anywhere.
bool is_loopback_host(std::string_view host) {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  return ipv4_first_octet(host) == 127;
}

std::optional<std::string> check_url_allowed(std::string_view url, AllowImds imds) {
  auto u = parse_url(url);
  if (!u) return "is not an http(s) URL without credentials, spaces or control characters, port 1-65535";
  // The Azure instance metadata service (IMDS) is plain http on a link-local address by design; only the
  // identity variables may name it (anything else sent there could be answered by the metadata service).
  bool imds_ok = imds == AllowImds::Yes && u->host == "169.254.169.254";
  if (u->scheme == "http" && !is_loopback_host(u->host) && !imds_ok) {
    return "uses plain http to a non-loopback host (" + u->host + "); use https";
  }
  return std::nullopt;
}

HttpClient::HttpClient(HttpOptions options)
    : options_(std::move(options)), handle_(std::make_unique<Handle>()) {
  global_init();
  handle_->curl.reset(curl_easy_init());
  if (!handle_->curl) throw std::runtime_error("curl_easy_init failed");
}
HttpClient::~HttpClient() = default;
HttpClient::HttpClient(HttpClient&&) noexcept = default;
HttpClient& HttpClient::operator=(HttpClient&&) noexcept = default;

Result<HttpResponse, TransportError> HttpClient::send(const HttpRequest& req) {
  // The identity client reaches IMDS here; which URLs may name it is decided when the config is loaded.
  if (auto why = check_url_allowed(req.url, AllowImds::Yes)) {
    return err(TransportError{CURLE_UNSUPPORTED_PROTOCOL, false, "refusing URL that " + *why});
  }
  auto u = parse_url(req.url);
  CURL* c = handle_->curl.get();
  curl_easy_reset(c);
  HttpResponse response;
  Sink sink{&response, options_.max_body_bytes};
  char errbuf[CURL_ERROR_SIZE] = {};

  SlistPtr headers;
  for (const auto& [name, value] : req.headers) {
    std::string line = name + ": " + value;
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (!next) return err(TransportError{CURLE_OUT_OF_MEMORY, false, "out of memory building headers"});
    headers.release();
    headers.reset(next);
  }
  // libcurl adds "Expect: 100-continue" for large bodies; it costs a round trip and some servers mishandle
  // it.
  headers.reset(curl_slist_append(headers.release(), "Expect:"));

  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, u->scheme == "http" ? "http" : "https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  // TLS 1.2 at least, whatever the system's OpenSSL configuration allows (tests/common/tls_minimum_test.cpp).
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!options_.ca_bundle.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, options_.total_timeout_ms);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "etp2sentinel/" ETP2S_VERSION);
  if (req.method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  if (req.basic_auth) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, req.basic_auth->first.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, req.basic_auth->second.reveal().c_str());
  }

  auto start = std::chrono::steady_clock::now();
  CURLcode rc = curl_easy_perform(c);
  response.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (rc != CURLE_OK) {
    std::string msg = sink.overflow ? "response body larger than " + std::to_string(sink.limit) + " bytes"
                                    : (errbuf[0] ? errbuf : curl_easy_strerror(rc));
    return err(TransportError{static_cast<int>(rc), rc == CURLE_OPERATION_TIMEDOUT, std::move(msg)});
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

std::optional<double> parse_retry_after(const std::string& value, long long now_epoch_s) {
  if (value.empty()) return std::nullopt;
  bool all_digits =
      std::all_of(value.begin(), value.end(), [](unsigned char ch) { return std::isdigit(ch); });
  if (all_digits && value.size() < 10) return static_cast<double>(std::stol(value));
  if (auto t = parse_rfc1123(value)) {
    double delta = static_cast<double>(*t / kMicrosPerSecond - now_epoch_s);
    return delta < 0 ? 0.0 : delta;
  }
  return std::nullopt;
}

std::string url_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : text) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(kHex[ch >> 4]);
      out.push_back(kHex[ch & 15]);
    }
  }
  return out;
}

}  // namespace etp2s
