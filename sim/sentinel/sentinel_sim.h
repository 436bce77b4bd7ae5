#pragma once
// sentinel-sim: a local stand-in of the Azure side, written from ../shared/docs/sentinel-ingestion.md:
// Entra ID token endpoint (client secret, client assertion verified against the certificate, federated
// token), the managed identity endpoints, the Logs Ingestion endpoint and the Data Collector endpoint, with
// injectable 429/5xx/outages/403 and short token lifetimes. Every accepted row is kept for assertions.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace etp2s::sim {

struct SentinelSimOptions {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string tenant_id = "11111111-2222-3333-4444-555555555555";
  std::string client_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
  std::string client_secret = "sim-azure-client-secret";
  std::string certificate_pem_path;  // client assertions are verified against this certificate
  std::string federated_token = "sim-federated-token";
  std::string identity_header = "sim-identity-header";
  std::string dcr_id = "dcr-00112233445566778899aabbccddeeff";
  std::string stream = "Custom-FireEyeETPAlerts_CL";
  // More streams the DCR declares (rows carry "_Stream"): by default the supporting-data tables.
  std::vector<std::string> extra_streams = {"Custom-FireEyeETPAlertDetails_CL",
                                            "Custom-FireEyeETPMessageTrace_CL",
                                            "Custom-FireEyeETPQuarantine_CL"};
  std::string workspace_id = "00000000-1111-2222-3333-444444444444";
  std::string shared_key =
      "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==";
  int token_ttl_s = 3600;
  // Tokens for Azure Managed Redis (scope https://redis.azure.com/.default, resource https://redis.azure.com)
  // are this text, so that a test can make it a Redis ACL user's password; set_faults({"redis_token": ...})
  // rotates it. They are not accepted by the ingestion endpoints.
  std::string redis_token = "sim-redis-entra-token-0001";
  bool keep_rows = true;  // false: count only (scale runs)
};

class SentinelSim {
 public:
  explicit SentinelSim(SentinelSimOptions options);
  ~SentinelSim();
  SentinelSim(const SentinelSim&) = delete;
  SentinelSim& operator=(const SentinelSim&) = delete;

  int port() const;
  std::string base_url() const;
  void stop();

  // {"script": ["429", "503", "403", "413", ...], "outage_s": N (503 for N seconds), "rate_5xx": p,
  //  "token_ttl_s": N, "expire_tokens": true, "forbid": true (403 until cleared), "retry_after_s": N,
  //  "redis_token": "..." (the Redis token issued from now on)}
  // stats()["token_requests"]["redis"] counts the Redis tokens issued.
  void set_faults(const nlohmann::json& faults);
  nlohmann::json stats() const;
  nlohmann::json rows() const;  // every accepted row, in arrival order

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace etp2s::sim
