// REDIS_AUTH=entra (Azure Managed Redis, Azure Cache for Redis): the Redis password is an Entra ID access
// token for https://redis.azure.com/.default and the user is the identity's object (principal) id. The token
// comes from the same credentials as the shipper's (common/azure_credentials.h), one per process, renewed
// 5 minutes (at most half its lifetime) before expiry; each connection re-sends AUTH when it changes.
#include <functional>
#include <map>
#include <mutex>

#include "common/azure_credentials.h"
#include "common/config.h"
#include "common/redis.h"

namespace etp2s {

namespace {

constexpr const char* kRedisScope = "https://redis.azure.com/.default";

class EntraTokenSource final : public RedisTokenSource {
 public:
  explicit EntraTokenSource(std::shared_ptr<TokenCredential> credential)
      : credential_(std::move(credential)) {
    credential_->set_refresh_margin(300 * kMicrosPerSecond);
  }
  Result<Secret, std::string> token() override {
    auto t = credential_->token();
    if (!t) return err(t.error().message);
    return std::move(t.value());
  }
  bool renew_after_refusal() override { return credential_->refresh_after_refusal(); }
  void accepted() override { credential_->accepted(); }

 private:
  std::shared_ptr<TokenCredential> credential_;
};

// One source per identity and process: every connection shares its token (one Entra ID request per renewal,
// not one per connection).
std::shared_ptr<RedisTokenSource> shared_source(const Config& c) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<RedisTokenSource>> sources;
  const std::string key = c.azure_authority_host + "|" + c.azure_tenant_id + "|" + c.azure_client_id + "|" +
                          c.azure_client_certificate_path + "|" + c.azure_federated_token_file + "|" +
                          c.identity_endpoint + "|" + c.imds_endpoint + "|" +
                          std::to_string(std::hash<std::string>{}(c.azure_client_secret.reveal()));
  std::lock_guard lock(mu);
  if (auto existing = sources[key].lock()) return existing;
  auto source = std::make_shared<EntraTokenSource>(credential_from_config(c, now_micros, kRedisScope));
  sources[key] = source;
  return source;
}

}  // namespace

Result<RedisAddress, std::string> redis_address(const Config& c) {
  auto a = parse_redis_url(c.redis_url, c.redis_ca_bundle);
  if (!a || c.redis_auth != "entra") return a;
  a->user = c.redis_username;
  a->entra = shared_source(c);
  return a;
}

}  // namespace etp2s
