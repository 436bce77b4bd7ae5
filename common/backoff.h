#pragma once
// Exponential backoff with full jitter: a uniform wait in [0, min(cap, base * 2^attempt)].
#include <algorithm>
#include <cmath>
#include <optional>
#include <random>

namespace etp2s {

class Backoff {
 public:
  Backoff(double base_s = 0.5, double cap_s = 60, unsigned seed = std::random_device{}())
      : base_(base_s), cap_(cap_s), rng_(seed) {}
  // The wait before the next attempt; Retry-After, when the server gave one, wins.
  double next(std::optional<double> retry_after = std::nullopt) {
    ++attempt_;
    if (retry_after) return std::min(*retry_after, cap_ * 10);
    double ceiling = std::min(cap_, base_ * std::pow(2.0, std::min(attempt_ - 1, 30)));
    return std::uniform_real_distribution<double>(0, ceiling)(rng_);
  }
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  double base_, cap_;
  int attempt_ = 0;
  std::mt19937 rng_;
};

}  // namespace etp2s
