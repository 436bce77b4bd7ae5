#include "common/etp_client.h"

#include <algorithm>
#include <cctype>

#include "common/metrics.h"

namespace etp2s {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

bool mentions_rate_limit(const std::string& text) {
  std::string t = lower(text);
  return t.find("rate limit") != std::string::npos || t.find("too many requests") != std::string::npos ||
         t.find("ratelimit") != std::string::npos || t.find("rate-limit") != std::string::npos ||
         t.find("throttl") != std::string::npos;
}

bool mentions_bad_credentials(const std::string& text) {
  std::string t = lower(text);
  return t.find("api key") != std::string::npos || t.find("apikey") != std::string::npos ||
         t.find("api-key") != std::string::npos || t.find("unauthori") != std::string::npos ||
         t.find("authenticat") != std::string::npos || t.find("expired key") != std::string::npos;
}

}  // namespace

EtpError classify_http(long status, const std::string& body, const std::string& retry_after_header,
                       std::string_view what, long long now_epoch_s) {
  EtpError e;
  e.http_status = static_cast<int>(status);
  e.vendor = parse_vendor_errors(body);
  std::string detail = describe(e.vendor);
  e.retry_after_s = parse_retry_after(retry_after_header, now_epoch_s);
  std::string prefix = std::string(what) + ": HTTP " + std::to_string(status);
  if (!detail.empty()) prefix += " (" + detail + ")";

  if (status == 429 || (status >= 400 && mentions_rate_limit(detail))) {
    e.disposition = Disposition::Retry;
    e.rate_limited = true;
    e.message = prefix + ": rate limited by the vendor; slowing down";
  } else if (status == 401 || status == 403) {
    e.disposition = Disposition::Fatal;
    e.auth = true;
    e.message = prefix +
                ": the vendor refused the credentials; check ETP_API_KEY (keys expire) or the OAuth "
                "client's role and scopes";
  } else if (status >= 500 && mentions_bad_credentials(detail)) {
    // Integrators report bad keys answered with HTTP 500: retrying cannot help.
    e.disposition = Disposition::Fatal;
    e.auth = true;
    e.message = prefix + ": the vendor reports a credential problem; check ETP_API_KEY / ETP_CLIENT_ID";
  } else if (status >= 500 || status == 408) {
    e.disposition = Disposition::Retry;
    e.message = prefix + ": vendor-side failure; will retry";
  } else if (status >= 300 && status < 400) {
    e.disposition = Disposition::Fatal;
    e.message = prefix + ": unexpected redirect; check ETP_BASE_URL (redirects are not followed)";
  } else {
    e.disposition = Disposition::Fatal;
    e.message = prefix + ": request refused; fix the configuration or query";
  }
  return e;
}

EtpError classify_transport(const TransportError& t, std::string_view what) {
  EtpError e;
  e.disposition = Disposition::Retry;
  e.message =
      std::string(what) + ": " + (t.timeout ? "timed out" : "transport error") + " (" + t.message + ")";
  if (t.message.rfind("refusing URL", 0) == 0) e.disposition = Disposition::Fatal;
  return e;
}

Result<std::pair<std::string, std::string>, EtpError> ApiKeyAuth::header() {
  return std::make_pair(std::string("x-fireeye-api-key"), key_.reveal());
}

OAuthClientCredentials::OAuthClientCredentials(OAuthSettings settings, Clock clock)
    : s_(std::move(settings)), clock_(std::move(clock)), http_(s_.http), cache_(clock_) {}

EtpError OAuthClientCredentials::refused(const HttpResponse& r) const {
  EtpError e;
  e.disposition = Disposition::Fatal;
  e.auth = true;
  e.http_status = static_cast<int>(r.status);
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  std::string why = doc.is_object() && doc.contains("error") && doc["error"].is_string()
                        ? doc["error"].get<std::string>()
                        : std::string();
  e.message =
      "ETP token request: HTTP " + std::to_string(r.status) + (why.empty() ? "" : " (" + why + ")") +
      ": Trellix IAM refused client '" + s_.client_id +
      "'; check ETP_CLIENT_ID / ETP_CLIENT_SECRET, the scopes (ETP_SCOPES) and that the client's role "
      "has API access (a role without API access gets HTTP 400 even with a correct secret)";
  return e;
}

Result<FreshToken, EtpError> OAuthClientCredentials::fetch_token() {
  HttpRequest req;
  req.method = "POST";
  req.url = s_.token_url;
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
  req.body = "grant_type=client_credentials&scope=" + url_encode(s_.scopes);
  req.basic_auth = std::make_pair(s_.client_id, s_.client_secret);
  Metrics::get().token_refreshes("etp").Increment();
  auto res = http_.send(req);
  if (!res) return err(classify_transport(res.error(), "ETP token request"));
  const HttpResponse& r = res.value();
  if (r.status == 400 || r.status == 401 || r.status == 403) return err(refused(r));
  if (r.status != 200) {
    return err(classify_http(r.status, r.body, r.header("retry-after"), "ETP token request",
                             clock_() / kMicrosPerSecond));
  }
  auto doc = nlohmann::json::parse(r.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("access_token") || !doc["access_token"].is_string()) {
    EtpError e;
    e.http_status = 200;
    e.message = "ETP token request: HTTP 200 without an access_token; will retry";
    return err(std::move(e));
  }
  double lifetime = 300;
  if (doc.contains("expires_in")) {
    if (doc["expires_in"].is_number())
      lifetime = doc["expires_in"].get<double>();
    else if (doc["expires_in"].is_string())
      lifetime = std::atof(doc["expires_in"].get<std::string>().c_str());
  }
  if (lifetime <= 0) lifetime = 60;
  return FreshToken{Secret(doc["access_token"].get<std::string>()),
                    clock_() + static_cast<Micros>(lifetime * kMicrosPerSecond)};
}

Result<std::pair<std::string, std::string>, EtpError> OAuthClientCredentials::header() {
  auto token = cache_.get([this] {
    auto fresh = fetch_token();
    if (!fresh) Metrics::get().errors("vendor_token").Increment();
    return fresh;
  });
  if (!token) return err(std::move(token.error()));
  return std::make_pair(std::string("Authorization"), bearer_authorization(token.value()));
}

Result<std::string, std::string> build_summary_body(const SummaryQuery& q) {
  if (q.size < 0 || q.size > 200)
    return err("size must be between 1 and 200 (0 counts only), got " + std::to_string(q.size));
  if (q.traffic_type != "inbound" && q.traffic_type != "outbound") {
    return err("traffic_type must be inbound or outbound, got '" + q.traffic_type + "'");
  }
  if (q.attributes_key != "attributes" && q.attributes_key != "attribute") {
    return err(std::string("attributes_key must be attributes or attribute"));
  }
  OrderedJson body = OrderedJson::object();
  if (!q.attributes.is_object()) return err(std::string("attributes must be an object"));
  for (auto it = q.attributes.begin(); it != q.attributes.end(); ++it) {
    const auto& k = it.key();
    const auto& v = it.value();
    bool ok = (k == "legacy_id" && v.is_number_integer()) || (k == "etp_message_id" && v.is_string()) ||
              ((k == "email_status" || k == "alert_types") && v.is_array() &&
               std::all_of(v.begin(), v.end(), [](const OrderedJson& x) { return x.is_string(); }));
    if (!ok) return err("unsupported attribute filter '" + k + "' or wrong value type");
  }
  if (!q.attributes.empty()) body[q.attributes_key] = q.attributes;
  if (q.from_last_modified_on) {
    if (!parse_time(*q.from_last_modified_on)) {
      return err("fromLastModifiedOn is not a time: '" + *q.from_last_modified_on + "'");
    }
    body["fromLastModifiedOn"] = *q.from_last_modified_on;
  }
  body["size"] = q.size;
  body["traffic_type"] = q.traffic_type;
  return body.dump();
}

// POST /api/v1/messages/trace: the version-time filter is inclusive (">="); the cursor is sent as the alerts'
// is, without a zone (the public samples send the page's meta end with its trailing Z removed).
Result<std::string, std::string> build_trace_body(const SummaryQuery& q) {
  if (q.size < 0 || q.size > kTracePageMax)
    return err("size must be between 1 and 300 (0 counts only), got " + std::to_string(q.size));
  if (q.traffic_type != "inbound" && q.traffic_type != "outbound") {
    return err("traffic_type must be inbound or outbound, got '" + q.traffic_type + "'");
  }
  OrderedJson body = OrderedJson::object();
  if (q.from_last_modified_on) {
    if (!parse_time(*q.from_last_modified_on)) {
      return err("lastModifiedDateTime is not a time: '" + *q.from_last_modified_on + "'");
    }
    body["attributes"] = {{"lastModifiedDateTime", {{"value", *q.from_last_modified_on}, {"filter", ">="}}}};
  }
  body["size"] = q.size;
  body["traffic_type"] = q.traffic_type;
  return body.dump();
}

EtpClient::EtpClient(EtpClientOptions options, std::shared_ptr<EtpAuth> auth, Clock clock)
    : options_(std::move(options)), auth_(std::move(auth)), clock_(std::move(clock)), http_(options_.http) {
  while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
}

Result<HttpResponse, EtpError> EtpClient::call(HttpRequest req, std::string_view what) {
  auto h = auth_->header();
  if (!h) return err(h.error());
  req.headers.push_back(h.value());
  req.headers.emplace_back("Accept", "application/json");
  auto res = http_.send(req);
  if (!res) return err(classify_transport(res.error(), what));
  HttpResponse& r = res.value();
  if (r.status == 401 && auth_->on_unauthorized()) {
    EtpError e;
    e.disposition = Disposition::Retry;
    e.auth = true;
    e.http_status = 401;
    e.retry_after_s = 0;
    e.message =
        std::string(what) + ": HTTP 401; the token was refused, a fresh one will be used on the next attempt";
    return err(std::move(e));
  }
  if (r.status < 200 || r.status >= 300) {
    return err(classify_http(r.status, r.body, r.header("retry-after"), what, clock_() / kMicrosPerSecond));
  }
  auth_->on_success();
  return std::move(r);
}

namespace {
// 404 or 410 from a v1 alert route that exists while v1 does: the vendor has switched v1 off.
EtpError retired(EtpError e) {
  if (e.http_status != 404 && e.http_status != 410) return e;
  e.retired = true;
  e.disposition = Disposition::Fatal;
  e.message +=
      " — the vendor answers the v1 alert API as retired; ETP_API=auto (the default) switches to the "
      "v2 alert search by itself, ETP_API=v1 stops here";
  return e;
}
}  // namespace

Result<SummaryPage, EtpError> EtpClient::summary(const SummaryQuery& q) {
  auto r = page("/api/v1/alerts", build_summary_body(q), "ETP alert summary", q.traffic_type, parse_summary);
  if (!r) return err(retired(r.error()));
  return r;
}

std::string format_rfc3339_s(Micros t) {
  Micros s = t >= 0 ? t / kMicrosPerSecond : (t - kMicrosPerSecond + 1) / kMicrosPerSecond;
  return format_vendor(s * kMicrosPerSecond).substr(0, 19) + "Z";
}

Result<std::string, std::string> build_v2_search_body(const V2SearchQuery& q) {
  if (q.size < 0 || q.size > 200) return err("size must be 0..200, got " + std::to_string(q.size));
  if (q.traffic_type != "inbound" && q.traffic_type != "outbound")
    return err("traffic_type must be inbound or outbound, got '" + q.traffic_type + "'");
  if (q.to_us < q.from_us) return err(std::string("date_range ends before it starts"));
  OrderedJson b = OrderedJson::object();
  b["date_range"] = {{"from", format_rfc3339_s(q.from_us)}, {"to", format_rfc3339_s(q.to_us)}};
  b["traffic_type"] = q.traffic_type;
  if (!q.domains.empty()) b["domain"] = q.domains;
  b["size"] = q.size;
  b["sort"] = {{"order", "asc"}};
  if (!q.search_after.is_null()) b["sort"]["search_after"] = q.search_after;
  return b.dump();
}

Result<SummaryPage, EtpError> EtpClient::search_v2(const V2SearchQuery& q) {
  return page("/api/v2/public/alerts/search", build_v2_search_body(q), "ETP v2 alert search", q.traffic_type,
              parse_v2_search);
}

Result<std::optional<OrderedJson>, EtpError> EtpClient::details_v2(const std::string& alert_id) {
  auto r = lookup("/api/v2/public/alerts/" + url_encode(alert_id), "ETP v2 alert details");
  if (r && r.value() && r.value()->is_null()) return std::optional<OrderedJson>();
  return r;
}

Result<SummaryPage, EtpError> EtpClient::trace_page(const SummaryQuery& q) {
  return page("/api/v1/messages/trace", build_trace_body(q), "ETP message trace search", q.traffic_type,
              parse_trace_page);
}

Result<SummaryPage, EtpError> EtpClient::page(const std::string& path, Result<std::string, std::string> body,
                                              std::string_view what, const std::string& traffic_type,
                                              PageParser parse) {
  if (!body) {
    EtpError e;
    e.disposition = Disposition::Fatal;
    e.message = std::string(what) + ": invalid query: " + body.error();
    return err(std::move(e));
  }
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + path;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = std::move(body.value());
  auto r = call(std::move(req), what);
  if (!r) return err(r.error());
  auto page = parse(r->body, traffic_type);
  if (!page) {
    EtpError e;
    e.http_status = 200;
    e.vendor = parse_vendor_errors(r->body);
    e.rate_limited = mentions_rate_limit(describe(e.vendor));
    // Unreadable (a record the vendor cannot serialise: the data document cut off, the same each time) only
    // when it looks like the data document: an HTML page or an error envelope with HTTP 200 is an outage,
    // retried.
    auto first = r->body.find_first_not_of(" \t\r\n");
    e.unreadable = !e.rate_limited && e.vendor.empty() && first != std::string::npos &&
                   r->body[first] == '{' && r->body.find("\"data\"") != std::string::npos;
    e.message = std::string(what) + ": HTTP 200 with an unusable body (" + page.error() + ", " +
                std::to_string(r->body.size()) + " bytes); will retry";
    return err(std::move(e));
  }
  return std::move(page.value());
}

// One record by id (GET). nullopt: the vendor says it does not exist (HTTP 404, meta.total == 0, or no data):
// the alert aged out or the message was purged. The record may come as data[0], as data, or (v2, unclear in
// the public record) unwrapped.
Result<std::optional<OrderedJson>, EtpError> EtpClient::lookup(const std::string& path, std::string_view what,
                                                               bool http404_not_found) {
  HttpRequest req;
  req.method = "GET";
  req.url = options_.base_url + path;
  auto r = call(std::move(req), what);
  if (!r) {
    if (r.error().http_status == 404 && !r.error().rate_limited && http404_not_found)
      return std::optional<OrderedJson>();
    if (!http404_not_found && !r.error().rate_limited) {
      EtpError e = retired(r.error());
      if (e.retired) e.disposition = Disposition::Retry;  // the caller asks v2 next
      return err(std::move(e));
    }
    return err(r.error());
  }
  std::size_t repaired = 0;
  std::string why;
  OrderedJson doc = parse_vendor_json(r->body, repaired, why);
  if (doc.is_discarded() || !doc.is_object()) {
    EtpError e;
    e.http_status = 200;
    e.message = std::string(what) + ": HTTP 200 with a non-JSON body; will retry";
    return err(std::move(e));
  }
  const OrderedJson* total = find_path(doc, {"meta", "total"});
  if (total && total->is_number() && total->get<double>() == 0) return std::optional<OrderedJson>();
  auto data = doc.find("data");
  if (data == doc.end())
    return std::optional<OrderedJson>(doc.contains("id") ? std::move(doc) : OrderedJson());
  if (data->is_object()) return std::optional<OrderedJson>(*data);
  if (!data->is_array() || data->empty()) return std::optional<OrderedJson>();
  return std::optional<OrderedJson>((*data)[0]);
}

Result<OrderedJson, EtpError> EtpClient::post_json(const std::string& path, const std::string& body,
                                                   std::string_view what) {
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + path;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = body;
  auto r = call(std::move(req), what);
  if (!r) return err(r.error());
  std::size_t repaired = 0;
  std::string why;
  OrderedJson doc = parse_vendor_json(r->body, repaired, why);
  if (doc.is_discarded() || !(doc.is_object() || doc.is_array())) {
    EtpError e;
    e.http_status = 200;
    e.message = std::string(what) + ": HTTP 200 with an unusable body (" + std::to_string(r->body.size()) +
                " bytes); will retry";
    return err(std::move(e));
  }
  return doc;
}

Result<std::optional<OrderedJson>, EtpError> EtpClient::details(const std::string& alert_id,
                                                                bool http404_not_found) {
  auto r = lookup("/api/v1/alerts/" + url_encode(alert_id), "ETP alert details", http404_not_found);
  if (r && r.value() && r.value()->is_null()) return std::optional<OrderedJson>();
  return r;
}

// The public record names GET /api/v1/messages/{etp_message_id} for one message's trace, and integrators pass
// a traffic type with it; how the outbound variant is spelled is not public: we send ?traffic_type=outbound
// (see docs/design.md, "Lookups").
Result<std::optional<OrderedJson>, EtpError> EtpClient::message_trace(const std::string& etp_message_id,
                                                                      const std::string& traffic_type) {
  std::string path = "/api/v1/messages/" + url_encode(etp_message_id);
  if (traffic_type == "outbound") path += "?traffic_type=outbound";
  auto r = lookup(path, "ETP message trace");
  if (r && r.value() && r.value()->is_null()) return std::optional<OrderedJson>();
  return r;
}

}  // namespace etp2s
