#pragma once
// A secret prints only its length. While a Secret holds a value, that value is registered with the log
// redactor, so that it can never leak through a log line or an error text, even when some code path
// formats it by mistake. The registration is owned: it ends with the last Secret holding the value, so a
// refreshed access token replaces the previous one instead of piling up in the redactor for ever.
#include <ostream>
#include <string>

namespace etp2s {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);
  // A copy holds its own registration; a move hands the registration over with the value.
  Secret(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(const Secret& other);
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  std::size_t size() const { return value_.size(); }
  friend std::ostream& operator<<(std::ostream& os, const Secret& s) {
    return os << "<secret:" << s.value_.size() << " bytes>";
  }
  bool operator==(const Secret& o) const { return value_ == o.value_; }

 private:
  std::string value_;
};

}  // namespace etp2s
