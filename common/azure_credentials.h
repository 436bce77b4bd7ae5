#pragma once
// Entra ID tokens (for the Logs Ingestion API, and for Redis with REDIS_AUTH=entra), picked from the
// environment the way the Azure SDKs do:
// client secret, client certificate, workload identity, then managed identity (App Service / Container Apps
// endpoint, else IMDS). One token is reused until shortly before expiry and refreshed after a 401.
#include <memory>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/http.h"
#include "common/result.h"
#include "common/secret.h"
#include "common/timefmt.h"
#include "common/token_cache.h"

namespace etp2s {

struct CredentialError {
  bool fatal = false;  // a refused identity (the operator must act) vs. an unreachable endpoint (retry)
  std::string message;
};

// What a token endpoint answered (kept under its old name for the credentials' fetch()).
using AccessToken = FreshToken;

class TokenCredential {
 public:
  virtual ~TokenCredential() = default;
  // A cached token, refreshed when within min(2 min, half its lifetime) of expiry (see TokenCache).
  Result<Secret, CredentialError> token();
  // Called after a 401: the next token() fetches a new token.
  void invalidate() { cache_.invalidate(); }
  // After a refusal: the next token() fetches a new token, unless the refused one was itself fetched after a
  // refusal (false: a real identity problem). accepted(): the token worked.
  bool refresh_after_refusal() { return cache_.refresh_after_unauthorized(); }
  void accepted() { cache_.accepted(); }
  // Renew at most this long before expiry (default 2 min; never later than half the lifetime).
  void set_refresh_margin(Micros margin) { cache_.set_max_margin(margin); }
  virtual std::string name() const = 0;
  int fetches() const { return cache_.fetches(); }

 protected:
  explicit TokenCredential(Clock clock) : clock_(std::move(clock)), cache_(clock_) {}
  virtual Result<AccessToken, CredentialError> fetch() = 0;
  Clock clock_;

 private:
  Result<AccessToken, CredentialError> fetch_counted();
  TokenCache cache_;
};

struct EntraSettings {
  std::string authority_host = "https://login.microsoftonline.com";
  std::string tenant_id;
  std::string client_id;
  std::string scope = "https://monitor.azure.com//.default";
  HttpOptions http;
};

class ClientSecretCredential final : public TokenCredential {
 public:
  ClientSecretCredential(EntraSettings s, Secret secret, Clock clock = now_micros);
  std::string name() const override { return "client-secret"; }

 private:
  Result<AccessToken, CredentialError> fetch() override;
  EntraSettings s_;
  Secret secret_;
  HttpClient http_;
};

// PEM file with the certificate and its private key (as AZURE_CLIENT_CERTIFICATE_PATH expects).
class ClientCertificateCredential final : public TokenCredential {
 public:
  ClientCertificateCredential(EntraSettings s, std::string pem_path, Clock clock = now_micros);
  std::string name() const override { return "client-certificate"; }
  // The RS256 client assertion (exposed for tests).
  Result<std::string, CredentialError> assertion(const std::string& audience);

 private:
  Result<AccessToken, CredentialError> fetch() override;
  EntraSettings s_;
  std::string pem_path_;
  HttpClient http_;
};

class WorkloadIdentityCredential final : public TokenCredential {
 public:
  WorkloadIdentityCredential(EntraSettings s, std::string token_file, Clock clock = now_micros);
  std::string name() const override { return "workload-identity"; }

 private:
  Result<AccessToken, CredentialError> fetch() override;
  EntraSettings s_;
  std::string token_file_;
  HttpClient http_;
};

struct ManagedIdentitySettings {
  std::string identity_endpoint;  // App Service / Functions / Container Apps
  Secret identity_header;
  std::string imds_endpoint = "http://169.254.169.254/metadata/identity/oauth2/token";
  std::string resource = "https://monitor.azure.com";
  std::string client_id;  // user-assigned identity, optional
  HttpOptions http;
};

class ManagedIdentityCredential final : public TokenCredential {
 public:
  explicit ManagedIdentityCredential(ManagedIdentitySettings s, Clock clock = now_micros);
  std::string name() const override {
    return s_.identity_endpoint.empty() ? "managed-identity-imds" : "managed-identity";
  }

 private:
  Result<AccessToken, CredentialError> fetch() override;
  ManagedIdentitySettings s_;
  HttpClient http_;
};

// The credential the environment selects, in the Azure SDKs' order, for `scope` (SENTINEL_SCOPE by default;
// a managed identity asks for the scope's resource, i.e. without /.default).
std::shared_ptr<TokenCredential> credential_from_config(const Config& c, Clock clock = now_micros,
                                                        const std::string& scope = "");

}  // namespace etp2s
