#pragma once
// Whose state a Redis prefix holds (docs/operations.md, "One state, one configuration"). The plan, cursors
// and dedupe marks are only right for the vendor, credential, window, traffic types and domains they were
// made for: a trial's plan resumed by production reports "complete" after a few requests. So each role claims
// the state for its configuration at start and refuses (exit 2, saying how to resolve it) a state made for
// another, unless PLAN_ADOPT=1 says the change is deliberate (another base URL of the same tenant, another
// window); the claim is then moved to the new configuration, loudly. A changed credential alone is logged and
// followed, not refused: a rotated API key cannot be told from another tenant's key.
#include <atomic>
#include <string>

#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/state.h"

namespace etp2s {

// What the coordinator plans with: the backfill window and traffic types (streams may be added to a plan, so
// they are not part of it; ETP_DOMAINS is not applied yet, so neither is it).
nlohmann::json plan_fingerprint(const Config& c);
// What the fetchers read: the vendor's base URL and the credential's identity — a hash of the API key, or of
// the OAuth token URL, client id and secret; never the credential itself.
nlohmann::json vendor_fingerprint(const Config& c);

enum class Claim {
  Ours,               // first claim, or unchanged
  CredentialChanged,  // the same vendor and plan, another credential (a rotated key): followed, logged
  Adopted,            // made for another configuration, taken over with PLAN_ADOPT=1 (logged)
  Refused,            // made for another configuration: logged with the differences and what to do
};
inline bool usable(Claim c) {
  return c != Claim::Refused;
}

// Claims `name` ("plan" or "vendor") for `mine`. Retries while Redis is unreachable, until `stop`; Err only
// when stopped meanwhile.
Result<Claim, std::string> claim_state(StateStore& store, const std::string& name, const nlohmann::json& mine,
                                       const Config& c, const std::atomic<bool>& stop);

}  // namespace etp2s
