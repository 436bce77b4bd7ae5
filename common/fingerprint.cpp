#include "common/fingerprint.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/encoding.h"
#include "common/log.h"

namespace etp2s {
namespace {
std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}
// Enough to tell two credentials apart, far too little to guess a key from (and the keys are long and
// random).
std::string short_hash(std::string_view what, std::string_view text) {
  return hex(sha256(std::string("etp2sentinel fingerprint\n") + std::string(what) + "\n" + std::string(text)))
      .substr(0, 16);
}
}  // namespace

nlohmann::json plan_fingerprint(const Config& c) {
  nlohmann::json fp = {{"backfill_days", c.etp_backfill_days},
                       {"traffic_types", sorted(c.etp_traffic_types)}};
  // ETP_DOMAINS shapes the plan only with ETP_API=v2 (a partition per domain); with v1 it filters rows, and
  // plans made before domains were applied stay claimable.
  if (c.etp_api == "v2" && !c.etp_domains.empty()) fp["domains"] = sorted(c.etp_domains);
  return fp;
}

nlohmann::json vendor_fingerprint(const Config& c) {
  std::string base = c.etp_base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  // The OAuth client secret is part of it, so that a rotated secret, like a rotated key, is seen as a change.
  std::string credential = c.etp_uses_oauth()
                               ? "oauth:" + short_hash("oauth", c.etp_token_url + "\n" + c.etp_client_id +
                                                                    "\n" + c.etp_client_secret.reveal())
                               : "api-key:" + short_hash("api-key", c.etp_api_key.reveal());
  return {{"vendor", base}, {"credential", credential}};
}

Result<Claim, std::string> claim_state(StateStore& store, const std::string& name, const nlohmann::json& mine,
                                       const Config& c, const std::atomic<bool>& stop) {
  while (!stop) {
    auto differs = store.claim_fingerprint(name, mine, false);
    if (!differs) {
      log::warn("state.redis_unavailable", {{"error", differs.error()}});
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    if (differs->empty()) return Claim::Ours;
    // A rotated API key looks exactly like another tenant's key: a credential change alone is said loudly and
    // followed (refusing it would stop every key rotation); another vendor URL or plan is refused.
    bool credential_only = std::all_of(differs->begin(), differs->end(),
                                       [](const std::string& d) { return d.rfind("credential:", 0) == 0; });
    if (credential_only || c.plan_adopt) {
      if (auto moved = store.claim_fingerprint(name, mine, true); !moved) continue;
      if (credential_only) {
        log::warn("state.credential_changed",
                  {{"state", name},
                   {"message",
                    "the ETP credential differs from the one this state was read with: a rotated "
                    "key is followed; another tenant's data needs its own Redis database"}});
        return Claim::CredentialChanged;
      }
      log::warn("state.adopted", {{"state", name},
                                  {"differs", differs.value()},
                                  {"message",
                                   "PLAN_ADOPT=1: the state made for another configuration is "
                                   "now this one's; remove PLAN_ADOPT once this start succeeded"}});
      return Claim::Adopted;
    }
    log::error(
        "state.made_for_another_configuration",
        {{"state", name},
         {"differs", differs.value()},
         {"message",
          "this Redis holds a " + name +
              " made for another configuration and will not be resumed with this one. If the change is "
              "deliberate (the same tenant under another URL), start once with "
              "PLAN_ADOPT=1. To keep both, give this configuration its own Redis database (REDIS_URL "
              ".../1). To start over, delete the keys under " +
              store.prefix() + " (docs/operations.md)."}});
    return Claim::Refused;
  }
  return err(std::string("stopped"));
}

}  // namespace etp2s
