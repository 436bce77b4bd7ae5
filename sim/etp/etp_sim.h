#pragma once
// etp-sim: a local stand-in of the ETP v1 alerts API (summary, details; one message's trace and the whole
// trace stream on /trace; the quarantine on /quarantine), written from ../shared/docs/etp-api.md, traps
// included: inclusive cursor, modified alerts (a later last_modified_on), alerts visible only late, both auth
// schemes, 60 requests/minute per route (429 with an error body), and injectable faults.
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
  int tie_burst = 0;     // this many alerts share one last_modified_on (the stuck-cursor trap)
  int late_percent = 2;  // % of alerts that become visible after their last_modified_on
  int modified_percent = 5;
  int huge_subject_bytes = 0;  // if > 0, one alert in 1000 carries a subject this long
  // Messages without an alert (only the whole trace stream, POST /api/v1/messages/trace, shows them);
  // -1: as many as there are alerts.
  int clean_messages = -1;
  int latency_ms = 0;
  int jitter_ms = 0;
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
  // whose every summary page is cut off).
  void set_faults(const nlohmann::json& faults);
  nlohmann::json add_alerts(const nlohmann::json& request);
  nlohmann::json modify_alert(const nlohmann::json& request);
  // Every currently visible alert version: [{id, etp_message_id, last_modified_on, traffic_type}].
  nlohmann::json truth() const;
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
