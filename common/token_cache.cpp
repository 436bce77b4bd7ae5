#include "common/token_cache.h"

#include <algorithm>

namespace etp2s {

std::string bearer_authorization(const Secret& token) {
  return "Bearer " + token.reveal();
}

TokenCache::TokenCache(Clock clock) : clock_(std::move(clock)) {}

bool TokenCache::due_locked(Micros now) const {
  return !current_ || now >= refresh_at_;
}

void TokenCache::store_locked(FreshToken fresh) {
  // Early enough that a token never expires in flight, late enough that short-lived tokens still get
  // used; a lifetime under a second (or already past) counts as one second, i.e. the token is due at once.
  Micros lifetime = std::max<Micros>(fresh.expires_at - clock_(), kMicrosPerSecond);
  refresh_at_ = fresh.expires_at - std::min<Micros>(max_margin_.load(), lifetime / 2);
  current_ = std::move(fresh);  // the previous token's Secret goes away here: it is no longer redacted
}

std::optional<Secret> TokenCache::unexpired() const {
  std::lock_guard lock(mu_);
  if (!current_ || clock_() >= current_->expires_at) return std::nullopt;
  return current_->token;
}

void TokenCache::invalidate() {
  std::lock_guard lock(mu_);
  current_.reset();
}

bool TokenCache::refresh_after_unauthorized() {
  std::lock_guard lock(mu_);
  if (refreshed_after_401_) return false;
  refreshed_after_401_ = true;
  current_.reset();
  return true;
}

void TokenCache::accepted() {
  std::lock_guard lock(mu_);
  refreshed_after_401_ = false;
}

}  // namespace etp2s
