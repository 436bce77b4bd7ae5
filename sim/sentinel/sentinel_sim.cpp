#include "sim/sentinel/sentinel_sim.h"

#include <httplib.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include "sim/serve.h"

#include <algorithm>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "common/encoding.h"
#include "common/timefmt.h"
#include "shipper/gzip.h"

namespace etp2s::sim {

using json = nlohmann::json;

namespace {
constexpr std::size_t kIngestionLimit = 1'000'000;
constexpr std::size_t kFieldLimit = 64 * 1024;
constexpr std::size_t kDataCollectorLimit = 30 * 1000 * 1000;

// The HTTP Data Collector API refuses a whole post whose records carry one of these (any case).
constexpr const char* kReservedProperties[] = {"tenant", "TimeGenerated", "RawData"};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const char* reserved_property(const json& record) {
  for (const auto& [k, v] : record.items()) {
    for (const char* r : kReservedProperties) {
      if (lower(k) == lower(r)) return r;
    }
  }
  return nullptr;
}

// The column a Data Collector record's property becomes: the name with its type's suffix (_s string, _d
// number, _b bool, _t ISO 8601 date-time, _g GUID; nested JSON is stored as its text, _s) and the value as
// stored. Null properties are not stored at all (nullopt).
std::optional<std::pair<std::string, json>> data_collector_column(const std::string& name, const json& v) {
  static const std::regex kDateTime(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$)");
  static const std::regex kGuid(
      R"(^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$)");
  if (v.is_null()) return std::nullopt;
  if (v.is_boolean()) return std::make_pair(name + "_b", v);
  if (v.is_number()) return std::make_pair(name + "_d", json(v.get<double>()));
  if (v.is_string()) {
    const auto& text = v.get_ref<const std::string&>();
    if (std::regex_match(text, kDateTime)) return std::make_pair(name + "_t", v);
    if (std::regex_match(text, kGuid)) return std::make_pair(name + "_g", v);
    return std::make_pair(name + "_s", v);
  }
  return std::make_pair(name + "_s", json(v.dump()));
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}
}  // namespace

struct SentinelSim::Impl {
  SentinelSimOptions opt;
  httplib::Server server;
  ServerThread serving;
  int port = 0;

  mutable std::mutex mu;
  std::map<std::string, Micros> tokens;
  std::deque<std::string> script;
  Micros outage_until = 0;
  bool forbid = false;
  double rate_5xx = 0;
  int retry_after_s = 1;
  int token_ttl_s;
  std::mt19937_64 rng{11};
  std::vector<std::string> rows;  // JSON text of each accepted row
  json counters = {{"ingestion_calls", 0},
                   {"data_collector_calls", 0},
                   {"rows_accepted", 0},
                   {"max_body_bytes", 0},
                   {"max_wire_bytes", 0},
                   {"fields_over_limit", 0},
                   {"token_requests", json::object()},
                   {"by_status", json::object()}};

  explicit Impl(SentinelSimOptions o) : opt(std::move(o)), token_ttl_s(opt.token_ttl_s) {}

  std::string token_url() const {
    return "http://127.0.0.1:" + std::to_string(port) + "/" + opt.tenant_id + "/oauth2/v2.0/token";
  }

  static constexpr const char* kRedisResource = "https://redis.azure.com";

  std::string issue_token(const std::string& kind, bool redis = false) {
    std::lock_guard lock(mu);
    if (redis) {
      counters["token_requests"]["redis"] = counters["token_requests"].value("redis", 0) + 1;
      return opt.redis_token;
    }
    counters["token_requests"][kind] = counters["token_requests"].value(kind, 0) + 1;
    std::string t = "simaz-" + hex(std::to_string(rng()) + std::to_string(rng()));
    tokens[t] = now_micros() + static_cast<Micros>(token_ttl_s) * kMicrosPerSecond;
    return t;
  }

  static void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }

  // Verifies an RS256 client assertion against the configured certificate.
  std::string verify_assertion(const std::string& jwt) const {
    auto parts = split(jwt, '.');
    if (parts.size() != 3) return "assertion is not a JWT";
    auto header = json::parse(base64_decode(parts[0]).value_or(""), nullptr, false);
    auto claims = json::parse(base64_decode(parts[1]).value_or(""), nullptr, false);
    auto sig = base64_decode(parts[2]);
    if (header.is_discarded() || claims.is_discarded() || !sig) return "assertion is not decodable";
    if (header.value("alg", "") != "RS256") return "alg must be RS256";
    if (!header.contains("x5t#S256") && !header.contains("x5t")) return "x5t#S256 or x5t header missing";
    std::ifstream in(opt.certificate_pem_path);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string pem = ss.str();
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    if (!cert) return "no certificate configured";
    EVP_PKEY* key = X509_get_pubkey(cert);
    unsigned char* der = nullptr;
    int der_len = i2d_X509(cert, &der);
    std::string thumb = base64url_encode(
        sha256(std::string(reinterpret_cast<char*>(der), static_cast<std::size_t>(der_len))));
    OPENSSL_free(der);
    X509_free(cert);
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string input = parts[0] + "." + parts[1];
    bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
              EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                               reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (!ok) return "signature does not verify against the certificate";
    if (header.contains("x5t#S256") && header["x5t#S256"] != thumb)
      return "x5t#S256 does not match the certificate";
    long long now = now_micros() / kMicrosPerSecond;
    if (claims.value("aud", "") != token_url()) return "aud must be the token URL";
    if (claims.value("iss", "") != opt.client_id || claims.value("sub", "") != opt.client_id)
      return "iss/sub must be the client id";
    if (claims.value("exp", 0LL) < now || claims.value("nbf", now) > now + 300)
      return "assertion expired or not yet valid";
    if (claims.value("jti", "").empty()) return "jti missing";
    return "";
  }

  void token(const httplib::Request& req, httplib::Response& res) {
    std::string tenant = req.matches[1];
    if (tenant != opt.tenant_id)
      return reply(res, 400,
                   {{"error", "invalid_request"}, {"error_description", "AADSTS90002: Tenant not found"}});
    if (req.get_param_value("grant_type") != "client_credentials")
      return reply(res, 400, {{"error", "unsupported_grant_type"}});
    const bool redis = req.get_param_value("scope") == std::string(kRedisResource) + "/.default";
    if (!redis && req.get_param_value("scope") != "https://monitor.azure.com//.default") {
      return reply(res, 400,
                   {{"error", "invalid_scope"}, {"error_description", "AADSTS70011: invalid scope"}});
    }
    if (req.get_param_value("client_id") != opt.client_id) {
      return reply(
          res, 400,
          {{"error", "unauthorized_client"}, {"error_description", "AADSTS700016: application not found"}});
    }
    std::string kind;
    if (req.has_param("client_secret")) {
      if (req.get_param_value("client_secret") != opt.client_secret) {
        return reply(
            res, 401,
            {{"error", "invalid_client"}, {"error_description", "AADSTS7000215: Invalid client secret"}});
      }
      kind = "client_secret";
    } else if (req.get_param_value("client_assertion_type") ==
               "urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
      std::string assertion = req.get_param_value("client_assertion");
      if (assertion == opt.federated_token) {
        kind = "federated";
      } else {
        std::string why = verify_assertion(assertion);
        if (!why.empty())
          return reply(res, 401,
                       {{"error", "invalid_client"}, {"error_description", "AADSTS700027: " + why}});
        kind = "certificate";
      }
    } else {
      return reply(res, 400, {{"error", "invalid_request"}, {"error_description", "no client credential"}});
    }
    reply(
        res, 200,
        {{"token_type", "Bearer"}, {"expires_in", token_ttl_s}, {"access_token", issue_token(kind, redis)}});
  }

  void managed_identity(const httplib::Request& req, httplib::Response& res, bool imds) {
    if (imds) {
      if (req.get_header_value("Metadata") != "true")
        return reply(res, 400, {{"error", "Metadata header required"}});
      if (req.get_param_value("api-version") != "2018-02-01")
        return reply(res, 400, {{"error", "bad api-version"}});
    } else {
      if (req.get_header_value("X-IDENTITY-HEADER") != opt.identity_header)
        return reply(res, 401, {{"error", "bad identity header"}});
      if (req.get_param_value("api-version") != "2019-08-01")
        return reply(res, 400, {{"error", "bad api-version"}});
    }
    const std::string resource = req.get_param_value("resource");
    if (resource != "https://monitor.azure.com" && resource != kRedisResource)
      return reply(res, 400, {{"error", "bad resource"}});
    std::string t = issue_token(imds ? "imds" : "identity_endpoint", resource == kRedisResource);
    long long expires_on = now_micros() / kMicrosPerSecond + token_ttl_s;
    reply(res, 200,
          {{"access_token", t},
           {"expires_on", std::to_string(expires_on)},
           {"resource", resource},
           {"token_type", "Bearer"}});
  }

  // Scripted faults, outages and 403s, shared by both ingestion endpoints. Returns true if it answered.
  bool inject(httplib::Response& res) {
    std::string fault;
    {
      std::lock_guard lock(mu);
      if (!script.empty()) {
        fault = script.front();
        script.pop_front();
      } else if (now_micros() < outage_until) {
        fault = "503";
      } else if (forbid) {
        fault = "403";
      } else if (rate_5xx > 0 && std::uniform_real_distribution<double>(0, 1)(rng) < rate_5xx) {
        fault = "500";
      }
    }
    if (fault.empty() || fault == "ok") return false;
    int status = std::stoi(fault);
    if (status == 429 || status == 503) res.set_header("Retry-After", std::to_string(retry_after_s));
    reply(res, status, {{"error", {{"code", "Injected"}, {"message", "sentinel-sim injected " + fault}}}});
    return true;
  }

  void count_status(int status) {
    std::lock_guard lock(mu);
    auto& b = counters["by_status"];
    b[std::to_string(status)] = b.value(std::to_string(status), 0) + 1;
  }

  // Parses a JSON array body; stores the rows. Returns an error text or "".
  std::string accept_rows(const std::string& body, std::size_t field_limit, const std::string& stream) {
    auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_array()) return "body is not a JSON array";
    std::lock_guard lock(mu);
    for (auto& row : doc) {
      if (!row.is_object()) return "array element is not an object";
    }
    for (auto& row : doc) {
      for (auto& [k, v] : row.items()) {
        std::size_t n = v.is_string() ? v.get_ref<const std::string&>().size() : v.dump().size();
        if (n > field_limit) counters["fields_over_limit"] = counters["fields_over_limit"].get<int>() + 1;
      }
      if (!stream.empty() && stream != opt.stream) row["_Stream"] = stream;
      row["_ReceivedAt"] = format_iso_ms(now_micros());
      if (opt.keep_rows) rows.push_back(row.dump());
    }
    counters["rows_accepted"] = counters["rows_accepted"].get<std::size_t>() + doc.size();
    counters["max_body_bytes"] = std::max(counters["max_body_bytes"].get<std::size_t>(), body.size());
    return "";
  }

  // A Data Collector post: refused as a whole (400 InvalidDataFormat) if it is not an array of objects or a
  // record carries a reserved property; else every record is stored the way a classic custom table holds it
  // (type-suffixed columns, TimeGenerated from the time-generated-field column or the receive time).
  std::string accept_data_collector_rows(const std::string& body, const std::string& log_type,
                                         const std::string& time_field) {
    auto doc = json::parse(body, nullptr, false);
    if (doc.is_discarded() || !doc.is_array()) return "body is not a JSON array";
    for (std::size_t i = 0; i < doc.size(); ++i) {
      if (!doc[i].is_object()) return "array element is not an object";
      if (const char* r = reserved_property(doc[i])) {
        std::lock_guard lock(mu);
        counters["reserved_refused"] = counters.value("reserved_refused", 0) + 1;
        return "record " + std::to_string(i) + " carries the reserved property '" + r +
               "' (tenant, TimeGenerated and RawData are reserved); the post was refused";
      }
    }
    std::lock_guard lock(mu);
    Micros received = now_micros();
    for (const auto& record : doc) {
      json row = json::object();
      std::optional<Micros> time;
      for (const auto& [k, v] : record.items()) {
        std::size_t n = v.is_string() ? v.get_ref<const std::string&>().size() : v.dump().size();
        if (n > 32 * 1024) counters["fields_over_limit"] = counters["fields_over_limit"].get<int>() + 1;
        if (k == time_field && v.is_string()) time = parse_time(v.get<std::string>());
        if (auto column = data_collector_column(k, v)) row[column->first] = column->second;
      }
      row["TimeGenerated"] = format_iso_ms(time.value_or(received));
      row["_LogType"] = log_type;
      row["_ReceivedAt"] = format_iso_ms(received);
      if (opt.keep_rows) rows.push_back(row.dump());
    }
    counters["rows_accepted"] = counters["rows_accepted"].get<std::size_t>() + doc.size();
    counters["max_body_bytes"] = std::max(counters["max_body_bytes"].get<std::size_t>(), body.size());
    return "";
  }

  void ingestion(const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      counters["ingestion_calls"] = counters["ingestion_calls"].get<int>() + 1;
    }
    res.set_header("x-ms-request-id", "sim-" + std::to_string(now_micros()));
    auto done = [&](int status, const std::string& code, const std::string& msg) {
      reply(res, status, {{"error", {{"code", code}, {"message", msg}}}});
      count_status(status);
    };
    std::string auth = req.get_header_value("Authorization");
    {
      std::lock_guard lock(mu);
      auto it = auth.rfind("Bearer ", 0) == 0 ? tokens.find(auth.substr(7)) : tokens.end();
      if (it == tokens.end() || it->second <= now_micros()) {
        res.status = 401;
        res.set_content(R"({"error":{"code":"InvalidToken","message":"token missing, unknown or expired"}})",
                        "application/json");
        auto& b = counters["by_status"];
        b["401"] = b.value("401", 0) + 1;
        return;
      }
    }
    if (req.get_param_value("api-version") != "2023-01-01")
      return done(400, "InvalidApiVersion", "api-version must be 2023-01-01");
    if (req.matches[1] != opt.dcr_id) return done(404, "NotFound", "data collection rule not found");
    const std::string stream = req.matches[2];
    bool declared = stream == opt.stream || std::find(opt.extra_streams.begin(), opt.extra_streams.end(),
                                                      stream) != opt.extra_streams.end();
    if (!declared) return done(404, "InvalidStream", "stream not declared in the DCR");
    if (inject(res)) return count_status(res.status);
    // cpp-httplib inflates gzip request bodies itself; the wire size is the Content-Length.
    std::size_t wire = req.has_header("Content-Length") ? std::stoul(req.get_header_value("Content-Length"))
                                                        : req.body.size();
    {
      std::lock_guard lock(mu);
      counters["max_wire_bytes"] = std::max(counters["max_wire_bytes"].get<std::size_t>(), wire);
    }
    if (wire > kIngestionLimit) return done(413, "ContentLengthLimitExceeded", "compressed body over 1 MB");
    std::string body = req.body;
    if (body.size() >= 2 && static_cast<unsigned char>(body[0]) == 0x1f &&
        static_cast<unsigned char>(body[1]) == 0x8b) {
      auto plain = gzip_decompress(body, kIngestionLimit);
      if (!plain)
        return done(413, "ContentLengthLimitExceeded", "body over 1 MB uncompressed, or broken gzip");
      body = std::move(*plain);
    }
    if (body.size() > kIngestionLimit)
      return done(413, "ContentLengthLimitExceeded", "body over 1 MB uncompressed");
    if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
      return done(415, "UnsupportedMediaType", "Content-Type must be application/json");
    }
    std::string why = accept_rows(body, kFieldLimit, stream);
    if (!why.empty()) return done(400, "InvalidPayload", why);
    res.status = 204;
    count_status(204);
  }

  void data_collector(const httplib::Request& req, httplib::Response& res) {
    {
      std::lock_guard lock(mu);
      counters["data_collector_calls"] = counters["data_collector_calls"].get<int>() + 1;
    }
    res.set_header("x-ms-request-id", "simdc-" + std::to_string(now_micros()));
    auto done = [&](int status, const std::string& code, const std::string& msg) {
      reply(res, status, {{"Error", code}, {"Message", msg}});
      count_status(status);
    };
    if (req.get_param_value("api-version") != "2016-04-01")
      return done(400, "InvalidApiVersion", "bad api-version");
    static const std::regex kLogType("^[A-Za-z0-9_]{1,100}$");
    std::string log_type = req.get_header_value("Log-Type");
    if (!std::regex_match(log_type, kLogType)) return done(400, "InvalidLogType", "bad Log-Type");
    std::string date = req.get_header_value("x-ms-date");
    auto t = parse_rfc1123(date);
    if (!t || std::llabs(*t - now_micros()) > 15 * 60 * kMicrosPerSecond) {
      return done(403, "InvalidAuthorization", "x-ms-date missing or skewed more than 15 minutes");
    }
    std::string to_sign =
        "POST\n" + std::to_string(req.body.size()) + "\napplication/json\nx-ms-date:" + date + "\n/api/logs";
    std::string expected = "SharedKey " + opt.workspace_id + ":" +
                           base64_encode(hmac_sha256(base64_decode(opt.shared_key).value_or(""), to_sign));
    if (req.get_header_value("Authorization") != expected) {
      return done(403, "InvalidAuthorization",
                  "An invalid scheme or signature was specified in the Authorization header");
    }
    if (inject(res)) return count_status(res.status);
    if (req.body.size() > kDataCollectorLimit) return done(413, "RequestTooLarge", "over 30 MB");
    std::string why =
        accept_data_collector_rows(req.body, log_type, req.get_header_value("time-generated-field"));
    if (!why.empty()) return done(400, "InvalidDataFormat", why);
    res.status = 200;
    count_status(200);
  }

  void routes() {
    server.set_tcp_nodelay(true);
    server.new_task_queue = [] { return new httplib::ThreadPool(32); };
    server.set_payload_max_length(64 * 1024 * 1024);
    server.Post(R"(/([^/]+)/oauth2/v2\.0/token)",
                [this](const httplib::Request& q, httplib::Response& r) { token(q, r); });
    server.Get("/msi/token",
               [this](const httplib::Request& q, httplib::Response& r) { managed_identity(q, r, false); });
    server.Get("/metadata/identity/oauth2/token",
               [this](const httplib::Request& q, httplib::Response& r) { managed_identity(q, r, true); });
    server.Post(R"(/dataCollectionRules/([^/]+)/streams/([^/?]+))",
                [this](const httplib::Request& q, httplib::Response& r) { ingestion(q, r); });
    server.Post("/api/logs",
                [this](const httplib::Request& q, httplib::Response& r) { data_collector(q, r); });
  }
  void admin_routes(SentinelSim* self) {
    server.Get("/sim/stats",
               [self](const httplib::Request&, httplib::Response& r) { reply(r, 200, self->stats()); });
    server.Get("/sim/rows",
               [self](const httplib::Request&, httplib::Response& r) { reply(r, 200, self->rows()); });
    server.Post("/sim/faults", [self](const httplib::Request& q, httplib::Response& r) {
      auto body = json::parse(q.body, nullptr, false);
      if (body.is_discarded()) return reply(r, 400, {{"error", "body is not JSON"}});
      self->set_faults(body);
      reply(r, 200, {{"ok", true}});
    });
  }
};

SentinelSim::SentinelSim(SentinelSimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->routes();
  impl_->admin_routes(this);
  impl_->port = impl_->serving.start(impl_->server, impl_->opt.host, impl_->opt.port, "sentinel-sim");
}

SentinelSim::~SentinelSim() {
  stop();
}

void SentinelSim::stop() {
  impl_->serving.stop();
}

int SentinelSim::port() const {
  return impl_->port;
}
std::string SentinelSim::base_url() const {
  return "http://127.0.0.1:" + std::to_string(impl_->port);
}

void SentinelSim::set_faults(const nlohmann::json& f) {
  std::lock_guard lock(impl_->mu);
  if (f.contains("script")) {
    for (const auto& s : f["script"]) impl_->script.push_back(s.get<std::string>());
  }
  if (f.contains("outage_s"))
    impl_->outage_until = now_micros() + static_cast<Micros>(f["outage_s"].get<double>() * kMicrosPerSecond);
  impl_->forbid = f.value("forbid", impl_->forbid);
  impl_->rate_5xx = f.value("rate_5xx", impl_->rate_5xx);
  impl_->retry_after_s = f.value("retry_after_s", impl_->retry_after_s);
  impl_->token_ttl_s = f.value("token_ttl_s", impl_->token_ttl_s);
  impl_->opt.redis_token = f.value("redis_token", impl_->opt.redis_token);
  if (f.value("expire_tokens", false)) {
    for (auto& [t, exp] : impl_->tokens) exp = 0;
  }
}

nlohmann::json SentinelSim::stats() const {
  std::lock_guard lock(impl_->mu);
  return impl_->counters;
}

nlohmann::json SentinelSim::rows() const {
  std::lock_guard lock(impl_->mu);
  json out = json::array();
  for (const auto& r : impl_->rows) out.push_back(json::parse(r));
  return out;
}

}  // namespace etp2s::sim
