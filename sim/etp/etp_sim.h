#pragma once
// etp-sim: a local stand-in of the ETP alerts API — v1 (summary, details) and v2 (POST
// /api/v2/public/alerts/search, GET /api/v2/public/alerts/{id}; synthetic: no public v2 sample exists, so its
// answers say "synthetic": true) on the same alert records and the same /alerts budget — plus one message's
// trace and the whole trace stream on /trace and the quarantine on /quarantine, written from
// ../shared/docs/etp-api.md, traps included: inclusive cursor, modified alerts (a later last_modified_on),
// alerts visible only late, ties (one last_modified_on, one creation second), both auth schemes, 60
// requests/minute per route (429 with an error body), a retired v1 (404/410), and injectable faults.
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace etp2s::sim {

struct EtpSimOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  std::uint64_t seed = 42;
  int alerts = 1000;
  int days = 7;
  int rate_limit_per_min = 60;
  std::string api_key = "sim-api-key-0123456789";
  std::string client_id = "sim-client";
  std::string client_secret = "sim-client-secret-0123";
  std::string no_api_client_id = "sim-client-without-api-role";  // gets HTTP 400 from the token call
  int token_ttl_s = 3600;
  // This many inbound alerts share one last_modified_on (v1's stuck-cursor trap) and one creation second
  // (v2's alert_date tie, paged through with search_after).
  int tie_burst = 0;
  // The burst's alerts also share one email status and one alert type: no v1 attribute filter can split it.
  bool tie_uniform = false;
  // A skewed day: this % of the alerts fall into one campaign of `campaign_hours`, starting a quarter into
  // the window (the usual shape of real mail traffic); the rest are spread evenly. 0: evenly spread.
  int campaign_percent = 0;
  int campaign_hours = 3;
  int late_percent = 2;  // % of alerts that become visible after their last_modified_on
  int modified_percent = 5;
  int huge_subject_bytes = 0;  // if > 0, one alert in 1000 carries a subject this long
  // Messages without an alert (only the whole trace stream, POST /api/v1/messages/trace, shows them);
  // -1: as many as there are alerts.
  int clean_messages = -1;
  int latency_ms = 0;
  int jitter_ms = 0;
  // The initial values of the faults of the same names (see set_faults).
  int retire_v1 = 0;
  bool v2_details_unwrapped = false;
};

class EtpSim {
 public:
  explicit EtpSim(EtpSimOptions options);
  ~EtpSim();
  EtpSim(const EtpSim&) = delete;
  EtpSim& operator=(const EtpSim&) = delete;

  int port() const;
  std::string base_url() const;
  std::string token_url() const;
  void stop();

  // The same operations the /sim/* admin endpoints offer.
  nlohmann::json stats() const;
  // latency_ms, jitter_ms, rate_5xx, rate_garbage, rate_drop, rate_limit_per_min, token_ttl_s,
  // trace_forbidden, quarantine_forbidden, script (the next responses), expire_tokens, poison (alert ids
  // whose every summary page — v1 summary and v2 search — is cut off), retire_v1 (0: off; 404 or 410: POST
  // /api/v1/alerts and GET /api/v1/alerts/{id} answer that status with an error envelope, still counted on
  // /alerts; any other value throws std::invalid_argument), v2_details_unwrapped (bool: v2 details answer
  // the record itself instead of {"data": record, "meta": ...}).
  void set_faults(const nlohmann::json& faults);
  // {count, traffic_type, late_s, created}: `count` new alerts modified now, visible late_s seconds later;
  // with `created` (a time) every one of them was created within that whole second (a v2 alert_date tie).
  // Returns {alerts: [{id, visible_at, last_modified_on, alert_date}]} or {error}.
  nlohmann::json add_alerts(const nlohmann::json& request);
  nlohmann::json modify_alert(const nlohmann::json& request);
  // Every currently visible alert version: [{id, etp_message_id, last_modified_on, traffic_type}].
  nlohmann::json truth() const;
  // Every currently visible alert once, as v2 search shows it, per traffic type in v2 order (alert_date
  // second, id): [{id, etp_message_id, alert_date, traffic_type, domain}] (/sim/truth?stream=v2).
  nlohmann::json v2_truth() const;
  // Every alerted message (the trace lookups' truth): [{etp_message_id, traffic_type, status}]
  // (/sim/truth?stream=trace).
  nlohmann::json message_truth() const;
  // Every message version the whole trace stream shows now, alerted or not: [{etp_message_id, traffic_type,
  // status, last_modified}] (/sim/truth?stream=trace-all).
  nlohmann::json trace_all_truth() const;
  // Every quarantined message: [{message_id, timestamp_quarantine, released}] (/sim/truth?stream=quarantine).
  nlohmann::json quarantine_truth() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace etp2s::sim
