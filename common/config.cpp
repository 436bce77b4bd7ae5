#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/encoding.h"
#include "common/http.h"
#include "common/redis.h"
#include "common/stream.h"

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

// CR, LF and the other control characters: in a header value they start a new header (or end the request).
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; });
}

// A value as echoed in a message: bounded (a 40,000-character value would flood the log), control characters
// replaced. Never used for secrets.
std::string shown(std::string_view s) {
  constexpr std::size_t kMax = 80;
  std::string out(s.substr(0, kMax));
  for (char& c : out) {
    if (has_control(std::string_view(&c, 1))) c = '?';
  }
  if (s.size() > kMax) out += "... (" + std::to_string(s.size()) + " characters)";
  return out;
}

template <typename Pred>
bool all_chars(std::string_view s, Pred pred) {
  return std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); });
}

// Hand-written checks instead of std::regex: libstdc++'s regex recurses per character and aborts on long
// input (a 40,000-character ETP_DOMAINS entry did).
bool is_label(std::string_view l) {
  if (l.empty() || l.size() > 63 || l.front() == '-' || l.back() == '-') return false;
  return all_chars(l, [](unsigned char c) { return std::isalnum(c) || c == '-'; });
}

// At least two labels of 1-63 letters, digits or hyphens (not at either end), 253 characters in all.
bool is_domain(std::string_view d) {
  if (d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  for (;;) {
    auto dot = d.find('.');
    if (!is_label(d.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    d.remove_prefix(dot + 1);
  }
}

bool is_log_type(std::string_view s) {
  return !s.empty() && s.size() <= 100 &&
         all_chars(s, [](unsigned char c) { return std::isalnum(c) || c == '_'; });
}

// dcr- followed by 32 hex digits.
bool is_dcr_id(std::string_view s) {
  return s.size() == 36 && s.rfind("dcr-", 0) == 0 &&
         all_chars(s.substr(4), [](unsigned char c) { return std::isxdigit(c); });
}

// 8-4-4-4-12 hex digits.
bool is_guid(std::string_view s) {
  if (s.size() != 36) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

constexpr off_t kMaxSecretFile = 64 * 1024;

struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

// Up to max bytes from fd; nullopt on a read error.
std::optional<std::string> read_at_most(int fd, std::size_t max) {
  std::string data(max, '\0');
  std::size_t got = 0;
  while (got < max) {
    ssize_t n = ::read(fd, data.data() + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  data.resize(got);
  return data;
}

// A secret file is a small regular file. A FIFO would block the read forever and /dev/zero never ends, so the
// type and size are checked before opening, and again on the opened descriptor (the path may change between).
Result<std::string, std::string> read_secret_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return err("names a file that cannot be read: " + path);
  if (!S_ISREG(st.st_mode)) return err("names something that is not a regular file: " + path);
  if (st.st_size > kMaxSecretFile) return err("names a file larger than 64 KiB: " + path);
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return err("names a file that cannot be read: " + path);
  FdCloser closer{fd};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxSecretFile)
    return err("names a file that changed while being read: " + path);
  auto data = read_at_most(fd, static_cast<std::size_t>(kMaxSecretFile) + 1);
  if (!data) return err("names a file that cannot be read: " + path);
  if (data->size() > static_cast<std::size_t>(kMaxSecretFile))
    return err("names a file larger than 64 KiB: " + path);
  return std::move(*data);
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
  // Values end up in URLs, headers and logs: control characters are refused, and not echoed.
  void text(const std::string& name, std::string& out) {
    auto v = raw(name);
    if (!v) return;
    std::string t = trim(*v);
    if (has_control(t)) {
      fail(name, "contains a control character (CR, LF, tab, ...)");
      return;
    }
    out = std::move(t);
  }
  void integer(const std::string& name, int& out, int lo, int hi) {
    auto v = raw(name);
    if (!v) return;
    std::string t = trim(*v);
    char* end = nullptr;
    long n = std::strtol(t.c_str(), &end, 10);
    if (t.empty() || *end != '\0' || n < lo || n > hi) {
      fail(name, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                     ", got '" + shown(t) + "'");
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
    std::string source = direct ? name : name + "_FILE";
    std::string value;
    if (direct) {
      value = trim(*direct);
    } else if (file) {
      auto read = read_secret_file(trim(*file));
      if (!read) return fail(source, read.error());
      value = trim(read.value());
      if (value.empty()) return fail(source, "names an empty file: " + trim(*file));
    } else {
      return;
    }
    // A secret with "\r\n" would add a header of its own choosing to every request that carries it.
    if (has_control(value)) return fail(source, "holds a control character (CR, LF, tab, ...); refused");
    out = Secret(std::move(value));
    if (out.size() < 8) fail(name, "is too short to be a real secret (fewer than 8 characters)");
  }
  // A secret this role does not use but that is configured (a shared .env, `run`'s single environment): held
  // only so that the redactor knows it. Never validated here and never a reason to refuse the start.
  void held_secret(const std::string& name, std::vector<Secret>& out) {
    std::string value;
    if (auto direct = raw(name)) {
      value = trim(*direct);
    } else if (auto file = raw(name + "_FILE")) {
      auto read = read_secret_file(trim(*file));
      if (read) value = trim(read.value());
    }
    if (value.size() >= 8) out.emplace_back(std::move(value));  // shorter is refused where it is used
  }
  void url(const std::string& name, std::string& out, bool required, AllowImds imds = AllowImds::No) {
    text(name, out);
    if (out.empty()) {
      if (required) fail(name, "is required");
      return;
    }
    // A refused URL is echoed unless it may carry credentials (user:password@).
    if (auto why = check_url_allowed(out, imds))
      fail(name, *why + (out.find('@') == std::string::npos ? ": '" + shown(out) + "'" : std::string()));
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
  L.integer("ETP_UNREADABLE_PAGE_ATTEMPTS", c.etp_unreadable_page_attempts, 2, 1000);
}

// The vendor allows 60 requests per minute per route; a higher budget only gets 429s and can lock the
// customer out, so it needs ETP_RATE_LIMIT_OVERRIDE=1 (stand-ins, tests, or a limit agreed with the vendor).
void load_rate_limit(Loader& L, Config& c) {
  L.integer("ETP_RATE_LIMIT_PER_MIN", c.etp_rate_limit_per_min, 1, 100000);
  std::string override_flag;
  L.text("ETP_RATE_LIMIT_OVERRIDE", override_flag);
  if (!override_flag.empty() && override_flag != "0" && override_flag != "1")
    L.fail("ETP_RATE_LIMIT_OVERRIDE", "must be 0 or 1");
  if (c.etp_rate_limit_per_min > 60 && override_flag != "1") {
    L.fail("ETP_RATE_LIMIT_PER_MIN",
           "is above the vendor's 60 per minute; a higher value needs ETP_RATE_LIMIT_OVERRIDE=1");
  }
}

// Supporting data: lookups per alert (sources/lookups.h) and the quarantine (sources/quarantine.h). Source
// names as in sources/registry.cpp.
void load_lookups(Loader& L, Config& c) {
  L.text("ETP_DETAILS", c.etp_details);
  if (c.etp_details != "off" && c.etp_details != "new" && c.etp_details != "all")
    L.fail("ETP_DETAILS", "must be off, new or all, got '" + shown(c.etp_details) + "'");
  L.text("ETP_TRACE", c.etp_trace);
  if (c.etp_trace != "off" && c.etp_trace != "alerted" && c.etp_trace != "all")
    L.fail("ETP_TRACE", "must be off, alerted or all, got '" + shown(c.etp_trace) + "'");
  L.integer("ETP_LOOKUP_QUEUE_MAX", c.etp_lookup_queue_max, 1000, 10'000'000);
  L.text("ETP_QUARANTINE", c.etp_quarantine);
  if (c.etp_quarantine != "off" && c.etp_quarantine != "on")
    L.fail("ETP_QUARANTINE", "must be off or on, got '" + shown(c.etp_quarantine) + "'");
  L.integer("ETP_QUARANTINE_SWEEP_H", c.etp_quarantine_sweep_h, 0, 24 * 90);
  c.sources = {"alerts-v1"};
  if (c.etp_details != "off") c.sources.push_back("details-v1");
  if (c.etp_trace == "alerted") c.sources.push_back("trace-alerted");
  if (c.etp_trace == "all") c.sources.push_back("trace-all");  // every message: the alerted ones included
  if (c.etp_quarantine == "on") c.sources.push_back("quarantine-v1");
}

// What every role must agree on (the coordinator plans with it, fetchers page with it), credentials or not.
void load_shared_etp(Loader& L, Config& c) {
  if (auto v = L.raw("ETP_TRAFFIC_TYPES")) {
    c.etp_traffic_types = split_list(*v);
    bool ok = !c.etp_traffic_types.empty();
    for (const auto& t : c.etp_traffic_types) ok = ok && (t == "inbound" || t == "outbound");
    if (!ok)
      L.fail("ETP_TRAFFIC_TYPES",
             "must be a comma-separated list of inbound and outbound, got '" + shown(*v) + "'");
  }
  L.integer("ETP_PAGE_SIZE", c.etp_page_size, 1, 200);
  load_rate_limit(L, c);
  L.integer("ETP_BACKFILL_DAYS", c.etp_backfill_days, 1, 90);
  if (auto v = L.raw("ETP_DOMAINS")) {
    c.etp_domains = split_list(*v);
    for (const auto& d : c.etp_domains) {
      if (!is_domain(d)) L.fail("ETP_DOMAINS", "contains '" + shown(d) + "', which is not a domain name");
    }
  }
  // ETP_TIE_EMAIL_STATUSES / ETP_TIE_ALERT_TYPES: comma-separated; set empty to switch slicing off.
  if (auto v = L.raw("ETP_TIE_EMAIL_STATUSES")) c.etp_tie_email_statuses = split_list(*v);
  if (auto v = L.raw("ETP_TIE_ALERT_TYPES")) c.etp_tie_alert_types = split_list(*v);
  for (const auto* list : {&c.etp_tie_email_statuses, &c.etp_tie_alert_types}) {
    for (const auto& x : *list) {
      if (x.size() > 64)
        L.fail(list == &c.etp_tie_alert_types ? "ETP_TIE_ALERT_TYPES" : "ETP_TIE_EMAIL_STATUSES",
               "has an entry longer than 64 characters");
    }
  }
  L.text("ETP_API", c.etp_api);
  if (c.etp_api != "auto" && c.etp_api != "v1" && c.etp_api != "v2")
    L.fail("ETP_API", "must be auto, v1 or v2, got '" + shown(c.etp_api) + "'");
  L.integer("ETP_OVERLAP_S", c.etp_overlap_s, 0, 86400);
  L.integer("ETP_BACKFILL_POLL_S", c.etp_backfill_poll_s, 0, 3600);
  std::string adopt;
  L.text("PLAN_ADOPT", adopt);
  if (!adopt.empty() && adopt != "0" && adopt != "1") L.fail("PLAN_ADOPT", "must be 0 or 1");
  c.plan_adopt = adopt == "1";
  load_lookups(L, c);
}

// Where each stream goes. The alert stream keeps its original variables (SENTINEL_STREAM, SENTINEL_LOG_TYPE);
// every other stream has SENTINEL_STREAM_<TABLE> and SENTINEL_LOG_TYPE_<TABLE> (TABLE: its table name in
// upper case without _CL), defaulting to what its schema file says.
void load_stream_destinations(Loader& L, Config& c) {
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
      if (!is_log_type(log_type))
        L.fail("SENTINEL_LOG_TYPE_" + suffix, "must be letters, digits and underscores, at most 100");
    }
    c.sentinel_streams[s.table] = stream;
    c.sentinel_log_types[s.table] = log_type;
  }
}

// The Azure identity: the shipper's for the Logs Ingestion API, every role's with REDIS_AUTH=entra.
void load_azure_identity(Loader& L, Config& c) {
  L.text("AZURE_TENANT_ID", c.azure_tenant_id);
  L.text("AZURE_CLIENT_ID", c.azure_client_id);
  L.secret("AZURE_CLIENT_SECRET", c.azure_client_secret);
  L.text("AZURE_CLIENT_CERTIFICATE_PATH", c.azure_client_certificate_path);
  L.text("AZURE_FEDERATED_TOKEN_FILE", c.azure_federated_token_file);
  L.url("AZURE_AUTHORITY_HOST", c.azure_authority_host, false);
  // Only the identity variables may name IMDS (169.254.169.254) over plain http.
  L.url("IDENTITY_ENDPOINT", c.identity_endpoint, false, AllowImds::Yes);
  L.secret("IDENTITY_HEADER", c.identity_header);
  L.url("AZURE_IMDS_ENDPOINT", c.imds_endpoint, false, AllowImds::Yes);
  bool app_credential = !c.azure_client_secret.empty() || !c.azure_client_certificate_path.empty() ||
                        !c.azure_federated_token_file.empty();
  if (app_credential && c.azure_tenant_id.empty())
    L.fail("AZURE_TENANT_ID", "is required with an app credential");
  if (app_credential && c.azure_client_id.empty())
    L.fail("AZURE_CLIENT_ID", "is required with an app credential");
  if (!c.identity_endpoint.empty() && c.identity_header.empty())
    L.fail("IDENTITY_HEADER", "is required with IDENTITY_ENDPOINT");
}

void load_sentinel(Loader& L, Config& c) {
  L.text("SENTINEL_MODE", c.sentinel_mode);
  L.text("SENTINEL_CA_BUNDLE", c.sentinel_ca_bundle);
  if (c.sentinel_mode == "logs-ingestion") {
    L.url("SENTINEL_DCE_URL", c.sentinel_dce_url, true);
    L.text("SENTINEL_DCR_ID", c.sentinel_dcr_id);
    if (c.sentinel_dcr_id.empty())
      L.fail("SENTINEL_DCR_ID", "is required (the DCR's immutable id, dcr-<32 hex>)");
    else if (!is_dcr_id(c.sentinel_dcr_id)) {
      L.fail("SENTINEL_DCR_ID", "must be the DCR's immutable id, dcr- followed by 32 hex digits, got '" +
                                    shown(c.sentinel_dcr_id) + "'");
    }
    L.text("SENTINEL_STREAM", c.sentinel_stream);
    if (c.sentinel_stream.rfind("Custom-", 0) != 0) L.fail("SENTINEL_STREAM", "must start with Custom-");
    L.text("SENTINEL_SCOPE", c.sentinel_scope);
    load_azure_identity(L, c);
  } else if (c.sentinel_mode == "data-collector") {
    L.text("SENTINEL_WORKSPACE_ID", c.sentinel_workspace_id);
    if (!is_guid(c.sentinel_workspace_id)) {
      L.fail("SENTINEL_WORKSPACE_ID", "must be the workspace id (a GUID)");
    }
    L.secret("SENTINEL_SHARED_KEY", c.sentinel_shared_key);
    if (c.sentinel_shared_key.empty()) {
      L.fail("SENTINEL_SHARED_KEY", "(or SENTINEL_SHARED_KEY_FILE) is required");
    } else if (auto key = base64_decode(c.sentinel_shared_key.reveal()); !key || key->empty()) {
      // Signing with what an invalid key decodes to (nothing) only fails every upload later.
      L.fail("SENTINEL_SHARED_KEY", "is not valid base64 (the workspace's primary or secondary key)");
    }
    L.text("SENTINEL_LOG_TYPE", c.sentinel_log_type);
    if (!is_log_type(c.sentinel_log_type)) {
      L.fail("SENTINEL_LOG_TYPE", "must be letters, digits and underscores, at most 100");
    }
    L.url("SENTINEL_DATA_COLLECTOR_URL", c.sentinel_data_collector_url, false);
    if (c.sentinel_data_collector_url.empty() && !c.sentinel_workspace_id.empty()) {
      c.sentinel_data_collector_url = "https://" + c.sentinel_workspace_id + ".ods.opinsights.azure.com";
    }
  } else {
    L.fail("SENTINEL_MODE", "must be logs-ingestion or data-collector, got '" + shown(c.sentinel_mode) + "'");
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

// REDIS_PASSWORD / REDIS_PASSWORD_FILE: the password joins the URL the roles connect with (kept out of
// command lines and compose files; never shown). A URL that carries a password of its own is refused, an ACL
// user in the URL is kept.
void apply_redis_password(Loader& L, Config& c) {
  if (c.redis_password.empty()) return;
  const std::string& url = c.redis_url;
  const std::string scheme = url.rfind("rediss://", 0) == 0  ? "rediss://"
                             : url.rfind("redis://", 0) == 0 ? "redis://"
                                                             : "";
  if (scheme.empty())
    return L.fail("REDIS_PASSWORD", "needs a redis:// or rediss:// REDIS_URL (a unix:// socket takes none)");
  std::string rest = url.substr(scheme.size());
  auto at = rest.rfind('@');
  std::string user = at == std::string::npos ? "" : rest.substr(0, at);
  if (user.find(':') != std::string::npos)
    return L.fail("REDIS_PASSWORD", "is set and REDIS_URL carries a password too; give it in one place");
  if (c.redis_password.reveal().find(' ') != std::string::npos)
    return L.fail("REDIS_PASSWORD", "holds a space; choose a password without one");
  c.redis_url = scheme + user + ":" + c.redis_password.reveal() + "@" +
                (at == std::string::npos ? rest : rest.substr(at + 1));
}

// REDIS_AUTH=entra: the password is an Entra ID token for REDIS_USERNAME, so no password may be configured,
// and the token must not travel in clear (rediss://; redis:// only to loopback, for tests).
void load_redis_auth(Loader& L, Config& c) {
  L.text("REDIS_AUTH", c.redis_auth);
  L.text("REDIS_USERNAME", c.redis_username);
  if (c.redis_auth == "password") {
    if (!c.redis_username.empty())
      L.fail("REDIS_USERNAME", "is used only with REDIS_AUTH=entra (an ACL user goes in REDIS_URL)");
    return;
  }
  if (c.redis_auth != "entra")
    return L.fail("REDIS_AUTH", "must be password or entra, got '" + shown(c.redis_auth) + "'");
  if (c.redis_username.empty())
    L.fail("REDIS_USERNAME", "is required with REDIS_AUTH=entra (the object (principal) id of the identity)");
  if (!c.redis_password.empty()) {
    L.fail("REDIS_PASSWORD", "must not be set with REDIS_AUTH=entra (the Entra ID token is the password)");
    c.redis_password = Secret();  // not joined to the URL
  }
  auto a = parse_redis_url(c.redis_url);
  if (!a) return;  // reported by the caller
  if (c.redis_url.find('@') != std::string::npos)
    L.fail("REDIS_URL",
           "carries a user or password; with REDIS_AUTH=entra the user is REDIS_USERNAME and the "
           "password an Entra ID token");
  if (!a->tls && a->unix_path.empty() && !is_loopback_host(a->host))
    L.fail("REDIS_URL",
           "must be rediss:// with REDIS_AUTH=entra (the token must not travel in clear; redis:// "
           "only to a loopback address)");
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
  L.text("LOG_FORMAT", c.log_format);
  if (c.log_format != "auto" && c.log_format != "json" && c.log_format != "text") {
    L.fail("LOG_FORMAT", "must be json, text or auto");
  }
  load_shared_etp(L, c);
  if (needs.etp) load_etp(L, c);
  if (needs.redis) {
    L.text("REDIS_URL", c.redis_url);
    L.text("REDIS_CA_BUNDLE", c.redis_ca_bundle);
    L.secret("REDIS_PASSWORD", c.redis_password);
    load_redis_auth(L, c);
    apply_redis_password(L, c);
    // The parser's message names REDIS_URL and never shows the URL (it may hold a password).
    if (auto a = parse_redis_url(c.redis_url); !a) {
      L.fail("REDIS_URL",
             a.error().substr(a.error().rfind("REDIS_URL ", 0) == 0 ? 10 : 0) +
                 " (redis://[[user]:password@]host[:port][/db], rediss://... for TLS, or unix:///path)");
    }
  }
  L.integer("FETCHERS", c.fetchers, 1, 64);
  L.integer("FETCHER_SLOTS", c.fetcher_slots, 1, 8);
  L.text("COORDINATOR_ENDPOINT", c.coordinator_endpoint);
  L.text("SHIPPER_ENDPOINT", c.shipper_endpoint);
  L.integer("METRICS_PORT", c.metrics_port, 0, 65535);
  L.text("METRICS_ADDRESS", c.metrics_address);
  L.integer("LEASE_TTL_S", c.lease_ttl_s, 2, 600);
  L.integer("GAPS_MAX_ENTRIES", c.gaps_max_entries, 100, 1000000);
  L.integer("GAPS_TTL_DAYS", c.gaps_ttl_days, 1, 3650);
  L.integer("DEADLETTER_MAX_ENTRIES", c.dead_letter_max_entries, 1, 100000);
  L.integer("DEADLETTER_TTL_DAYS", c.dead_letter_ttl_days, 1, 365);
  load_zmq_security(L, c);
  if (needs.sentinel) load_sentinel(L, c);
  bool identity_loaded = needs.sentinel && c.sentinel_mode == "logs-ingestion";
  if (needs.redis && c.redis_auth == "entra" && !identity_loaded) load_azure_identity(L, c);
  // Every role's redactor knows every configured secret, used by this role or not (a second hold on a secret
  // the role loaded is harmless: holds are counted).
  for (const char* n :
       {"ETP_API_KEY", "ETP_CLIENT_SECRET", "AZURE_CLIENT_SECRET", "IDENTITY_HEADER", "SENTINEL_SHARED_KEY",
        "REDIS_PASSWORD", "ZMQ_SERVER_SECRET_KEY", "ZMQ_CLIENT_SECRET_KEY"})
    L.held_secret(n, c.other_secrets);
  if (auto url = L.raw("REDIS_URL")) {  // a password written into the URL
    if (auto a = parse_redis_url(trim(*url)); a && a->password.size() >= 8)
      c.other_secrets.push_back(a->password);
  }
  if (!L.errors().empty()) {
    std::string msg = "invalid configuration (" + std::to_string(L.errors().size()) + " problem" +
                      (L.errors().size() == 1 ? "" : "s") + "):";
    for (const auto& e : L.errors()) msg += "\n  - " + e;
    return err(log::redact(msg));
  }
  return c;
}

}  // namespace etp2s
