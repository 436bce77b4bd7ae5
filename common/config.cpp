#include "common/config.h"

#include "common/stream.h"

#include "common/redis.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/http.h"

namespace etp2s {

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

EnvLookup map_env(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

namespace {

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

class Loader {
 public:
  Loader(const EnvLookup& env, std::map<std::string, std::string> file) : env_(env), file_(std::move(file)) {}

  std::optional<std::string> raw(const std::string& name) {
    auto v = env_(name);
    if (!v) {
      auto it = file_.find(name);
      if (it != file_.end()) v = it->second;
    }
    if (v && trim(*v).empty()) return std::nullopt;  // set but empty = unset (compose passes empty values)
    return v;
  }
  void text(const std::string& name, std::string& out) {
    if (auto v = raw(name)) out = trim(*v);
  }
  void integer(const std::string& name, int& out, int lo, int hi) {
    auto v = raw(name);
    if (!v) return;
    std::string t = trim(*v);
    char* end = nullptr;
    long n = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || n < lo || n > hi) {
      fail(name, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got '" + t + "'");
      return;
    }
    out = static_cast<int>(n);
  }
  // X or X_FILE, never both. The value is never echoed in a message.
  void secret(const std::string& name, Secret& out) {
    auto direct = raw(name);
    auto file = raw(name + "_FILE");
    if (direct && file) {
      fail(name, "is set both directly and through " + name + "_FILE; set only one");
      return;
    }
    if (direct) {
      out = Secret(trim(*direct));
    } else if (file) {
      std::ifstream in(trim(*file), std::ios::binary);
      if (!in) {
        fail(name + "_FILE", "names a file that cannot be read: " + trim(*file));
        return;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      out = Secret(trim(ss.str()));
      if (out.empty()) fail(name + "_FILE", "names an empty file: " + trim(*file));
    }
    if (!out.empty() && out.size() < 8)
      fail(name, "is too short to be a real secret (fewer than 8 characters)");
  }
  void url(const std::string& name, std::string& out, bool required) {
    text(name, out);
    if (out.empty()) {
      if (required) fail(name, "is required");
      return;
    }
    if (auto why = check_url_allowed(out)) fail(name, *why + ": '" + out + "'");
  }
  void fail(const std::string& name, const std::string& why) { errors_.push_back(name + " " + why); }
  const std::vector<std::string>& errors() const { return errors_; }

 private:
  const EnvLookup& env_;
  std::map<std::string, std::string> file_;
  std::vector<std::string> errors_;
};

Result<std::map<std::string, std::string>, std::string> read_env_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return err("ETP2S_CONFIG_FILE names a file that cannot be read: " + path);
  std::map<std::string, std::string> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("export ", 0) == 0) line = trim(line.substr(7));
    auto eq = line.find('=');
    if (eq == std::string::npos) return err(path + ":" + std::to_string(n) + ": expected KEY=VALUE");
    std::string value = trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    out[trim(line.substr(0, eq))] = value;
  }
  return out;
}

void load_etp(Loader& L, Config& c) {
  L.url("ETP_BASE_URL", c.etp_base_url, true);
  L.secret("ETP_API_KEY", c.etp_api_key);
  L.text("ETP_CLIENT_ID", c.etp_client_id);
  L.secret("ETP_CLIENT_SECRET", c.etp_client_secret);
  L.url("ETP_TOKEN_URL", c.etp_token_url, false);
  L.text("ETP_SCOPES", c.etp_scopes);
  bool oauth = !c.etp_client_id.empty() || !c.etp_client_secret.empty();
  if (!c.etp_api_key.empty() && oauth) {
    L.fail("ETP_API_KEY",
           "and ETP_CLIENT_ID/ETP_CLIENT_SECRET are both set; choose one authentication scheme");
  } else if (c.etp_api_key.empty() && !oauth) {
    L.fail("ETP_API_KEY", "(or ETP_CLIENT_ID with ETP_CLIENT_SECRET) is required");
  } else if (oauth && c.etp_client_id.empty()) {
    L.fail("ETP_CLIENT_ID", "is required with ETP_CLIENT_SECRET");
  } else if (oauth && c.etp_client_secret.empty()) {
    L.fail("ETP_CLIENT_SECRET", "is required with ETP_CLIENT_ID");
  }
  L.text("ETP_CA_BUNDLE", c.etp_ca_bundle);
  L.integer("ETP_CONNECT_TIMEOUT_S", c.etp_connect_timeout_s, 1, 300);
  L.integer("ETP_TIMEOUT_S", c.etp_timeout_s, 1, 600);
}

// What every role must agree on (the coordinator plans with it, fetchers page with it), credentials or not.
void load_shared_etp(Loader& L, Config& c) {
  if (auto v = L.raw("ETP_TRAFFIC_TYPES")) {
    c.etp_traffic_types = split_list(*v);
    bool ok = !c.etp_traffic_types.empty();
    for (const auto& t : c.etp_traffic_types) ok = ok && (t == "inbound" || t == "outbound");
    if (!ok)
      L.fail("ETP_TRAFFIC_TYPES", "must be a comma-separated list of inbound and outbound, got '" + *v + "'");
  }
  L.integer("ETP_PAGE_SIZE", c.etp_page_size, 1, 200);
  L.integer("ETP_RATE_LIMIT_PER_MIN", c.etp_rate_limit_per_min, 1, 100000);
  L.integer("ETP_BACKFILL_DAYS", c.etp_backfill_days, 1, 90);
  if (auto v = L.raw("ETP_DOMAINS")) {
    static const std::regex kDomain(
        R"(^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$)");
    c.etp_domains = split_list(*v);
    for (const auto& d : c.etp_domains) {
      if (!std::regex_match(d, kDomain))
        L.fail("ETP_DOMAINS", "contains '" + d + "', which is not a domain name");
    }
  }
  L.integer("ETP_OVERLAP_S", c.etp_overlap_s, 0, 86400);
}

// Where each stream goes. The alert stream keeps its original variables (SENTINEL_STREAM, SENTINEL_LOG_TYPE);
// every other stream has SENTINEL_STREAM_<TABLE> and SENTINEL_LOG_TYPE_<TABLE> (TABLE: its table name in
// upper case without _CL), defaulting to what its schema file says.
void load_stream_destinations(Loader& L, Config& c) {
  static const std::regex kLogType("^[A-Za-z0-9_]{1,100}$");
  for (const auto& s : streams()) {
    std::string stream = s.stream, log_type = s.log_type;
    if (s.table == "FireEyeETPAlerts_CL") {
      stream = c.sentinel_stream;
      log_type = c.sentinel_log_type;
    } else {
      std::string suffix = s.log_type;
      std::transform(suffix.begin(), suffix.end(), suffix.begin(), ::toupper);
      L.text("SENTINEL_STREAM_" + suffix, stream);
      if (stream.rfind("Custom-", 0) != 0) L.fail("SENTINEL_STREAM_" + suffix, "must start with Custom-");
      L.text("SENTINEL_LOG_TYPE_" + suffix, log_type);
      if (!std::regex_match(log_type, kLogType))
        L.fail("SENTINEL_LOG_TYPE_" + suffix, "must be letters, digits and underscores, at most 100");
    }
    c.sentinel_streams[s.table] = stream;
    c.sentinel_log_types[s.table] = log_type;
  }
}

void load_sentinel(Loader& L, Config& c) {
  L.text("SENTINEL_MODE", c.sentinel_mode);
  L.text("SENTINEL_CA_BUNDLE", c.sentinel_ca_bundle);
  if (c.sentinel_mode == "logs-ingestion") {
    L.url("SENTINEL_DCE_URL", c.sentinel_dce_url, true);
    L.text("SENTINEL_DCR_ID", c.sentinel_dcr_id);
    static const std::regex kDcr("^dcr-[0-9a-fA-F]{32}$");
    if (c.sentinel_dcr_id.empty())
      L.fail("SENTINEL_DCR_ID", "is required (the DCR's immutable id, dcr-<32 hex>)");
    else if (!std::regex_match(c.sentinel_dcr_id, kDcr)) {
      L.fail("SENTINEL_DCR_ID", "must be the DCR's immutable id, dcr- followed by 32 hex digits, got '" +
                                    c.sentinel_dcr_id + "'");
    }
    L.text("SENTINEL_STREAM", c.sentinel_stream);
    if (c.sentinel_stream.rfind("Custom-", 0) != 0) L.fail("SENTINEL_STREAM", "must start with Custom-");
    L.text("SENTINEL_SCOPE", c.sentinel_scope);
    L.text("AZURE_TENANT_ID", c.azure_tenant_id);
    L.text("AZURE_CLIENT_ID", c.azure_client_id);
    L.secret("AZURE_CLIENT_SECRET", c.azure_client_secret);
    L.text("AZURE_CLIENT_CERTIFICATE_PATH", c.azure_client_certificate_path);
    L.text("AZURE_FEDERATED_TOKEN_FILE", c.azure_federated_token_file);
    L.url("AZURE_AUTHORITY_HOST", c.azure_authority_host, false);
    L.url("IDENTITY_ENDPOINT", c.identity_endpoint, false);
    L.secret("IDENTITY_HEADER", c.identity_header);
    L.url("AZURE_IMDS_ENDPOINT", c.imds_endpoint, false);
    bool app_credential = !c.azure_client_secret.empty() || !c.azure_client_certificate_path.empty() ||
                          !c.azure_federated_token_file.empty();
    if (app_credential && c.azure_tenant_id.empty())
      L.fail("AZURE_TENANT_ID", "is required with an app credential");
    if (app_credential && c.azure_client_id.empty())
      L.fail("AZURE_CLIENT_ID", "is required with an app credential");
    if (!c.identity_endpoint.empty() && c.identity_header.empty()) {
      L.fail("IDENTITY_HEADER", "is required with IDENTITY_ENDPOINT");
    }
  } else if (c.sentinel_mode == "data-collector") {
    L.text("SENTINEL_WORKSPACE_ID", c.sentinel_workspace_id);
    static const std::regex kGuid(
        "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$");
    if (!std::regex_match(c.sentinel_workspace_id, kGuid)) {
      L.fail("SENTINEL_WORKSPACE_ID", "must be the workspace id (a GUID)");
    }
    L.secret("SENTINEL_SHARED_KEY", c.sentinel_shared_key);
    if (c.sentinel_shared_key.empty())
      L.fail("SENTINEL_SHARED_KEY", "(or SENTINEL_SHARED_KEY_FILE) is required");
    L.text("SENTINEL_LOG_TYPE", c.sentinel_log_type);
    static const std::regex kLogType("^[A-Za-z0-9_]{1,100}$");
    if (!std::regex_match(c.sentinel_log_type, kLogType)) {
      L.fail("SENTINEL_LOG_TYPE", "must be letters, digits and underscores, at most 100");
    }
    L.url("SENTINEL_DATA_COLLECTOR_URL", c.sentinel_data_collector_url, false);
    if (c.sentinel_data_collector_url.empty() && !c.sentinel_workspace_id.empty()) {
      c.sentinel_data_collector_url = "https://" + c.sentinel_workspace_id + ".ods.opinsights.azure.com";
    }
  } else {
    L.fail("SENTINEL_MODE", "must be logs-ingestion or data-collector, got '" + c.sentinel_mode + "'");
  }
  load_stream_destinations(L, c);
}

// CURVE keys between the roles: a public key is derived from its secret (and must match it when given too).
void load_zmq_security(Loader& L, Config& c) {
  ZmqSecurity& z = c.zmq;
  auto pair = [&](const std::string& side, std::string& pub, Secret& secret) {
    L.secret("ZMQ_" + side + "_SECRET_KEY", secret);
    L.text("ZMQ_" + side + "_PUBLIC_KEY", pub);
    if (!pub.empty() && !is_z85_key(pub))
      L.fail("ZMQ_" + side + "_PUBLIC_KEY", "is not a CURVE key (40 characters of Z85)");
    if (secret.empty()) return;
    auto derived = public_key_of(secret.reveal());
    if (!derived) {
      L.fail("ZMQ_" + side + "_SECRET_KEY", derived.error());
    } else if (!pub.empty() && pub != derived.value()) {
      L.fail("ZMQ_" + side + "_PUBLIC_KEY", "does not belong to ZMQ_" + side + "_SECRET_KEY");
    } else {
      pub = derived.value();
    }
  };
  pair("SERVER", z.server_public, z.server_secret);
  pair("CLIENT", z.client_public, z.client_secret);
  std::string allowed;
  L.text("ZMQ_ALLOWED_CLIENT_KEYS", allowed);
  for (const auto& k : split_list(allowed)) {
    if (!is_z85_key(k)) L.fail("ZMQ_ALLOWED_CLIENT_KEYS", "holds something that is not a CURVE public key");
    z.allowed_clients.insert(k);
  }
  if (!z.client_public.empty()) z.allowed_clients.insert(z.client_public);
  std::string insecure;
  L.text("ZMQ_INSECURE", insecure);
  if (!insecure.empty() && insecure != "0" && insecure != "1") L.fail("ZMQ_INSECURE", "must be 0 or 1");
  z.insecure = insecure == "1";
}

}  // namespace

Result<Config, std::string> load_config(const EnvLookup& env, ConfigNeeds needs) {
  std::map<std::string, std::string> file;
  if (auto path = env("ETP2S_CONFIG_FILE"); path && !path->empty()) {
    auto f = read_env_file(*path);
    if (!f) return err(f.error());
    file = std::move(f.value());
  }
  Loader L(env, std::move(file));
  Config c;
  if (auto v = L.raw("LOG_LEVEL")) {
    if (!log::parse_level(trim(*v), c.log_level)) L.fail("LOG_LEVEL", "must be debug, info, warn or error");
  }
  load_shared_etp(L, c);
  if (needs.etp) load_etp(L, c);
  if (needs.redis) {
    L.text("REDIS_URL", c.redis_url);
    L.text("REDIS_CA_BUNDLE", c.redis_ca_bundle);
    if (auto a = parse_redis_url(c.redis_url); !a) {
      L.fail("REDIS_URL",
             "must look like redis://[:password@]host:port/db, rediss://... (TLS) or unix:///path");
    }
  }
  L.integer("FETCHERS", c.fetchers, 1, 64);
  L.text("COORDINATOR_ENDPOINT", c.coordinator_endpoint);
  L.text("SHIPPER_ENDPOINT", c.shipper_endpoint);
  L.integer("METRICS_PORT", c.metrics_port, 0, 65535);
  L.text("METRICS_ADDRESS", c.metrics_address);
  L.integer("LEASE_TTL_S", c.lease_ttl_s, 2, 600);
  load_zmq_security(L, c);
  if (needs.sentinel) load_sentinel(L, c);
  if (!L.errors().empty()) {
    std::string msg = "invalid configuration (" + std::to_string(L.errors().size()) + " problem" +
                      (L.errors().size() == 1 ? "" : "s") + "):";
    for (const auto& e : L.errors()) msg += "\n  - " + e;
    return err(log::redact(msg));
  }
  return c;
}

}  // namespace etp2s
