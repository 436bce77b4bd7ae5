#pragma once
// A secret prints only its length; its value is registered with the log redactor on creation so that it can
// never leak through a log line or an error text, even when some code path formats it by mistake.
#include <ostream>
#include <string>

namespace etp2s {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value);
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
