#include "shipper/destination.h"

#include "common/encoding.h"
#include "common/log.h"
#include "shipper/gzip.h"

namespace etp2s {

PostResult classify_post(long status, const HttpResponse& r, std::string_view what) {
  PostResult p;
  p.status = status;
  p.request_id = r.header("x-ms-request-id");
  p.retry_after_s = parse_retry_after(r.header("retry-after"), now_micros() / kMicrosPerSecond);
  std::string detail = r.body.substr(0, 500);
  std::string prefix = std::string(what) + ": HTTP " + std::to_string(status);
  if (status >= 200 && status < 300) {
    p.outcome = Outcome::Delivered;
    p.message = prefix;
  } else if (status == 429 || status == 408 || status >= 500) {
    p.outcome = Outcome::RetryLater;
    p.message = prefix + " (" + detail + "); will retry the same batch";
  } else if (status == 413) {
    p.outcome = Outcome::Refused;
    p.too_large = true;
    p.message = prefix + ": body too large; splitting";
  } else if (status == 403) {
    p.outcome = Outcome::Refused;
    p.message =
        prefix + " (" + detail +
        "): the identity lacks the 'Monitoring Metrics Publisher' role on the data collection rule, or a new "
        "role assignment has not propagated yet (up to 30 minutes); nothing was acknowledged";
  } else if (status == 404) {
    p.outcome = Outcome::Refused;
    p.message =
        prefix + " (" + detail +
        "): the endpoint, DCR immutable id or stream does not exist; check SENTINEL_DCE_URL, SENTINEL_DCR_ID "
        "and SENTINEL_STREAM; nothing was acknowledged";
  } else {
    p.outcome = Outcome::Refused;
    p.message = prefix + " (" + detail + "): Azure refused the request; nothing was acknowledged";
  }
  return p;
}

LogsIngestionDestination::LogsIngestionDestination(LogsIngestionSettings s,
                                                   std::shared_ptr<TokenCredential> cred)
    : s_(std::move(s)), credential_(std::move(cred)), http_(s_.http) {
  while (!s_.dce_url.empty() && s_.dce_url.back() == '/') s_.dce_url.pop_back();
}

PostResult LogsIngestionDestination::post(const std::string& body) {
  auto token = credential_->token();
  if (!token) {
    PostResult p;
    p.outcome = token.error().fatal ? Outcome::Refused : Outcome::RetryLater;
    p.message = token.error().message;
    return p;
  }
  std::string compressed = gzip_compress(body, s_.gzip_level);
  last_compressed_ = compressed.size();
  HttpRequest req;
  req.method = "POST";
  req.url =
      s_.dce_url + "/dataCollectionRules/" + s_.dcr_id + "/streams/" + s_.stream + "?api-version=2023-01-01";
  req.headers = {{"Content-Type", "application/json"},
                 {"Content-Encoding", "gzip"},
                 {"Authorization", bearer_authorization(token.value())}};
  req.body = std::move(compressed);
  auto res = http_.send(req);
  if (!res) {
    PostResult p;
    p.outcome = Outcome::RetryLater;
    p.message = "Logs Ingestion: " + std::string(res.error().timeout ? "timed out" : "transport error") +
                " (" + res.error().message + "); will retry the same batch";
    return p;
  }
  PostResult p = classify_post(res->status, res.value(), "Logs Ingestion");
  p.bytes_sent = req.body.size();
  if (res->status == 401) {
    credential_->invalidate();
    p.outcome = refreshed_after_401_ ? Outcome::Refused : Outcome::RetryLater;
    p.message = refreshed_after_401_
                    ? "Logs Ingestion: HTTP 401 with a freshly issued token; check the identity "
                      "and the token audience (SENTINEL_SCOPE)"
                    : "Logs Ingestion: HTTP 401; refreshing the token once";
    refreshed_after_401_ = true;
  } else if (p.outcome == Outcome::Delivered) {
    refreshed_after_401_ = false;
  }
  return p;
}

std::string shared_key_authorization(const std::string& workspace_id, const Secret& base64_key,
                                     std::size_t content_length_bytes, const std::string& rfc1123_date) {
  std::string to_sign = "POST\n" + std::to_string(content_length_bytes) +
                        "\napplication/json\nx-ms-date:" + rfc1123_date + "\n/api/logs";
  auto key = base64_decode(base64_key.reveal());
  std::string sig = base64_encode(hmac_sha256(key.value_or(std::string()), to_sign));
  return "SharedKey " + workspace_id + ":" + sig;
}

std::string data_collector_body(const std::string& body) {
  auto rows = nlohmann::ordered_json::parse(body, nullptr, false);
  if (rows.is_discarded() || !rows.is_array())
    return body;  // not ours to repair: Azure will say what is wrong
  for (auto& row : rows) {
    if (row.is_object()) row.erase("TimeGenerated");
  }
  return rows.dump();
}

DataCollectorDestination::DataCollectorDestination(DataCollectorSettings s, Clock clock)
    : s_(std::move(s)), clock_(std::move(clock)), http_(s_.http) {
  while (!s_.url.empty() && s_.url.back() == '/') s_.url.pop_back();
}

PostResult DataCollectorDestination::post(const std::string& rows) {
  const std::string body = data_collector_body(rows);
  // Signed afresh on every attempt: x-ms-date must be current, and the length is of the UTF-8 bytes.
  std::string date = format_rfc1123(clock_());
  HttpRequest req;
  req.method = "POST";
  req.url = s_.url + "/api/logs?api-version=2016-04-01";
  req.headers = {{"Content-Type", "application/json"}, {"Log-Type", s_.log_type}, {"x-ms-date", date}};
  if (!s_.time_generated_field.empty())
    req.headers.push_back({"time-generated-field", s_.time_generated_field});
  req.headers.push_back(
      {"Authorization", shared_key_authorization(s_.workspace_id, s_.shared_key, body.size(), date)});
  req.body = body;
  auto res = http_.send(req);
  if (!res) {
    PostResult p;
    p.outcome = Outcome::RetryLater;
    p.message = "Data Collector: transport error (" + res.error().message + "); will retry the same batch";
    return p;
  }
  PostResult p = classify_post(res->status, res.value(), "Data Collector");
  p.bytes_sent = body.size();
  if (res->status == 400) {
    p.message = "Data Collector: HTTP 400 (" + res->body.substr(0, 300) +
                "): the post was refused as a whole (a reserved property such as TimeGenerated, tenant or "
                "RawData, a bad Log-Type, or invalid JSON); nothing was acknowledged";
  }
  if (res->status == 403) {
    p.message =
        "Data Collector: HTTP 403 (" + res->body.substr(0, 300) +
        "): the signature was refused; check SENTINEL_WORKSPACE_ID and SENTINEL_SHARED_KEY (primary or "
        "secondary key of the workspace) and the clock; nothing was acknowledged";
  }
  return p;
}

}  // namespace etp2s
