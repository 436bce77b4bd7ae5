#pragma once
// Configuration from environment variables (and an optional KEY=VALUE file named by ETP2S_CONFIG_FILE;
// the environment wins). Validated once at start; every problem is reported together, naming the variable.
// Secrets may come from files: X_FILE instead of X.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/result.h"
#include "common/secret.h"
#include "common/zmq_security.h"

namespace etp2s {

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();
EnvLookup map_env(std::map<std::string, std::string> values);

// Which parts a role needs validated.
struct ConfigNeeds {
  bool etp = true;
  bool sentinel = true;
  bool redis = true;
};

struct Config {
  // ETP
  std::string etp_base_url;
  Secret etp_api_key;
  std::string etp_client_id;
  Secret etp_client_secret;
  std::string etp_token_url = "https://auth.trellix.com/auth/realms/IAM/protocol/openid-connect/token";
  std::string etp_scopes = "etp.alrt.ro etp.trce.ro etp.quar.ro";
  std::vector<std::string> etp_traffic_types = {"inbound", "outbound"};
  int etp_page_size = 200;
  int etp_rate_limit_per_min = 60;
  int etp_backfill_days = 7;
  std::vector<std::string> etp_domains;
  // ETP_API=auto (v1 while it answers, the v2 alert search once v1 answers as retired), v1 or v2
  // (docs/design.md, "The v2 alert search").
  std::string etp_api = "auto";
  // The v1 attribute filters a tie (more than 200 alerts on one last_modified_on) is read through
  // (docs/pager.md): every documented email_status (the list is open: a status not here shows as a count
  // mismatch, recorded as a gap) and the alert types seen; empty ETP_TIE_EMAIL_STATUSES: no slicing.
  std::vector<std::string> etp_tie_email_statuses = {"accepted",
                                                     "ACE: Passthrough",
                                                     "quarantined",
                                                     "released",
                                                     "deleted",
                                                     "delivered",
                                                     "bcc:dropped",
                                                     "delivered (retroactive)",
                                                     "dropped",
                                                     "dropped (oob retroactive)",
                                                     "permanent failure",
                                                     "rejected",
                                                     "scanned"};
  std::vector<std::string> etp_tie_alert_types = {"at", "av", "ms", "yara", "block_list_match"};
  bool plan_adopt =
      false;  // PLAN_ADOPT=1: resume a state made for another configuration (common/fingerprint.h)
  std::string etp_ca_bundle;
  int etp_connect_timeout_s = 10;
  int etp_timeout_s = 60;
  int etp_overlap_s = 300;
  // While a backfill reads a route, the caught-up head of that route is polled at most this often (seconds;
  // 0: every second as in steady state). Head polls spend the budget the backfill pages at.
  int etp_backfill_poll_s = 60;
  // A page the vendor answers this many times in a row with a body that cannot be read is narrowed, then its
  // range given up and recorded as a gap (docs/pager.md, "The unreadable page").
  int etp_unreadable_page_attempts = 5;
  // State and pipeline
  std::string redis_url = "redis://127.0.0.1:6379/0";  // rediss:// for TLS (Azure Managed Redis)
  std::string redis_ca_bundle;                         // PEM CAs for rediss://; empty: the system store
  Secret redis_password;  // REDIS_PASSWORD / _FILE; already part of redis_url (kept here for the redactor)
  // REDIS_AUTH=password (the URL's or REDIS_PASSWORD) or entra: AUTH REDIS_USERNAME (the identity's object
  // id) with an Entra ID token from the Azure identity below (common/redis_entra.cpp).
  std::string redis_auth = "password";
  std::string redis_username;
  // Configured secrets this role does not use (ConfigNeeds): held only so that its redactor knows them too.
  std::vector<Secret> other_secrets;
  log::Level log_level = log::Level::Info;
  std::string log_format = "auto";  // LOG_FORMAT: json, text, auto (text when stderr is a terminal)
  int fetchers = 4;
  // Leases one `fetcher` process works at once (FETCHER_SLOTS): two let one fetcher poll while it drains
  // lookups. (`run`/`backfill` start FETCHERS workers of one slot each.)
  int fetcher_slots = 2;
  std::string coordinator_endpoint = "inproc://coordinator";
  std::string shipper_endpoint = "inproc://shipper";
  int metrics_port = 0;  // 0: no metrics endpoint
  std::string metrics_address = "0.0.0.0";
  int lease_ttl_s = 5;
  // Caps and retention of the set-aside lists in Redis (common/state.h: ListLimits).
  int gaps_max_entries = 10000;
  int gaps_ttl_days = 90;
  int dead_letter_max_entries = 1000;
  int dead_letter_ttl_days = 30;
  ZmqSecurity zmq;  // CURVE keys between the roles (docs/security.md)
  // Supporting data: ETP_DETAILS=off|new|all (alert details), ETP_TRACE=off|alerted|all (alerted: the trace
  // of each alerted message, looked up; all: the whole trace stream, paged — sources/trace.h). Lookups are
  // queued per alert (sources/lookups.h), at most ETP_LOOKUP_QUEUE_MAX waiting each.
  std::string etp_details = "all";
  std::string etp_trace = "alerted";
  int etp_lookup_queue_max = 500'000;
  // The quarantine (ETP_QUARANTINE=off|on), read newest first; releases found by sweeping the last
  // ETP_QUARANTINE_SWEEP_H hours (sources/quarantine.h).
  std::string etp_quarantine = "on";
  int etp_quarantine_sweep_h = 72;
  // The source adapters to run (sources/registry.cpp), derived from the settings above.
  std::vector<std::string> sources = {"alerts-v1", "details-v1", "trace-alerted", "quarantine-v1"};
  // Sentinel
  std::string sentinel_mode = "logs-ingestion";
  std::string sentinel_dce_url;
  std::string sentinel_dcr_id;
  std::string sentinel_stream = "Custom-FireEyeETPAlerts_CL";
  std::string sentinel_scope = "https://monitor.azure.com//.default";
  std::string sentinel_workspace_id;
  Secret sentinel_shared_key;
  std::string sentinel_log_type = "FireEyeETPAlerts";
  std::string sentinel_data_collector_url;
  std::string sentinel_ca_bundle;
  // Per stream (table → DCR stream / Log-Type), filled from the schema files and the variables above.
  std::map<std::string, std::string> sentinel_streams;
  std::map<std::string, std::string> sentinel_log_types;
  // Azure identity (read the way the Azure SDKs read them): the shipper's (logs-ingestion), and every role's
  // with REDIS_AUTH=entra
  std::string azure_tenant_id;
  std::string azure_client_id;
  Secret azure_client_secret;
  std::string azure_client_certificate_path;
  std::string azure_federated_token_file;
  std::string azure_authority_host = "https://login.microsoftonline.com";
  std::string identity_endpoint;
  Secret identity_header;
  std::string imds_endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";

  bool etp_uses_oauth() const { return etp_api_key.empty(); }
};

// Err: one message listing every problem, one per line, each naming its variable.
Result<Config, std::string> load_config(const EnvLookup& env, ConfigNeeds needs = {});

}  // namespace etp2s
