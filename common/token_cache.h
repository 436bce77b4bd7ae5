#pragma once
// One access-token cache for every bearer credential (the ETP OAuth client and each Azure identity), so
// the refresh rule and the 401 rule live in one place. The cached token is a Secret: it is redacted while
// it is in use, and a refresh replaces it in the redactor.
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "common/result.h"
#include "common/secret.h"
#include "common/timefmt.h"

namespace etp2s {

// What a token endpoint answered.
struct FreshToken {
  Secret token;
  Micros expires_at = 0;
};

// The value of the Authorization header for a bearer token.
std::string bearer_authorization(const Secret& token);

class TokenCache {
 public:
  explicit TokenCache(Clock clock = now_micros);

  // The cached token, or a new one from fetch() (a callable returning Result<FreshToken, E>) when there
  // is none or it is due: min(max_margin, half its lifetime) before expiry (max_margin: 2 min unless set).
  // One refresh at a time: while one caller fetches, the others get the cached token if it has not expired
  // yet (a slow token endpoint never stalls them during the renewal window), else they wait for that refresh
  // instead of each starting their own. A failed fetch returns its error and leaves the cached token in place
  // (see unexpired()).
  template <class Fetch>
  auto get(Fetch&& fetch) -> Result<Secret, std::remove_cvref_t<decltype(fetch().error())>>;

  // The cached token while it has not expired, even if it is due for refresh: what a caller may still
  // use when the token endpoint is briefly unreachable.
  std::optional<Secret> unexpired() const;

  // Drops the token: the next get() fetches a new one.
  void invalidate();

  // After a 401: drops the token and returns true if one more attempt with a new token may succeed —
  // false when the refused token was itself fetched after a 401 (a real credential problem).
  bool refresh_after_unauthorized();
  // A call with the token succeeded: the next 401 deserves a fresh token again.
  void accepted();

  int fetches() const { return fetches_.load(); }
  // How long before expiry a long-lived token is renewed at most (applies from the next fetch).
  void set_max_margin(Micros margin) { max_margin_ = margin; }

 private:
  bool due_locked(Micros now) const;
  void store_locked(FreshToken fresh);

  Clock clock_;
  mutable std::mutex mu_;  // the state below; never held across a fetch
  std::mutex fetch_mu_;    // one fetch at a time
  std::optional<FreshToken> current_;
  Micros refresh_at_ = 0;
  std::atomic<Micros> max_margin_{120 * kMicrosPerSecond};
  bool refreshed_after_401_ = false;
  std::atomic<int> fetches_{0};
};

template <class Fetch>
auto TokenCache::get(Fetch&& fetch) -> Result<Secret, std::remove_cvref_t<decltype(fetch().error())>> {
  std::unique_lock fetching(fetch_mu_, std::try_to_lock);
  {
    std::lock_guard lock(mu_);
    if (!due_locked(clock_())) return current_->token;
    // Due, and another caller is renewing it: the cached token while it is still valid.
    if (!fetching.owns_lock() && current_ && clock_() < current_->expires_at) return current_->token;
  }
  if (!fetching.owns_lock()) fetching.lock();  // no valid token: wait for the refresh under way
  {
    std::lock_guard lock(mu_);
    if (!due_locked(clock_())) return current_->token;  // renewed meanwhile
  }
  ++fetches_;
  auto fresh = fetch();
  if (!fresh) return err(std::move(fresh.error()));
  std::lock_guard lock(mu_);
  store_locked(std::move(fresh.value()));
  return current_->token;
}

}  // namespace etp2s
