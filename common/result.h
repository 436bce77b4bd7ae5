#pragma once
// A value or an error the caller must look at (std::expected is C++23; we target C++20).
#include <stdexcept>
#include <utility>
#include <variant>

namespace etp2s {

template <class E>
struct Err {
  E error;
};
template <class E>
Err<std::decay_t<E>> err(E&& e) {
  return {std::forward<E>(e)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class F>
  Result(Err<F> e) : v_(std::in_place_index<1>, E(std::move(e.error))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return check(), std::get<0>(v_); }
  const T& value() const& { return check(), std::get<0>(v_); }
  T&& value() && { return check(), std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

  T value_or(T fallback) const { return ok() ? std::get<0>(v_) : std::move(fallback); }

  const E& error() const { return std::get<1>(v_); }
  E& error() { return std::get<1>(v_); }

 private:
  void check() const {
    if (!ok()) throw std::logic_error("Result::value() on an error");
  }
  std::variant<T, E> v_;
};

struct Unit {};

}  // namespace etp2s
