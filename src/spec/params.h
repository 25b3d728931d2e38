// ParamReader: typed, checked access to one map of parameters (a layer's, an op's, an
// optimizer's). It remembers every key asked for, and finish() rejects the keys nobody asked
// for, suggesting the closest known one: the check that catches `strid: 2`.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "spec/value.h"

namespace dltrain::spec {

class ParamReader {
 public:
  // `params` is a map or null (no parameters); `what` names the owner in messages ("conv2d").
  ParamReader(const Value& params, std::string what);

  bool has(const std::string& key);
  // The value of `key`, nullptr when absent. Marks the key as known.
  const Value* find(const std::string& key);
  // Throws Error at the owner's location when `key` is absent.
  const Value& require(const std::string& key);

  // Typed getters; each throws Error at the value's location on a wrong type or range.
  template <typename T>
  T get(const std::string& key);
  template <typename T>
  T get_or(const std::string& key, T fallback);
  // An int list, or one int broadcast to `size` entries (kernel_size: 3 -> [3, 3]).
  std::vector<int64_t> get_ints(const std::string& key, size_t size,
                                std::optional<std::vector<int64_t>> fallback = std::nullopt);
  // A number in [low, high] (NaN is not), `fallback` when absent; the error names the range.
  template <typename T>
  T get_in(const std::string& key, T fallback, T low, T high = std::numeric_limits<T>::max());
  // A string that must be one of `choices`.
  std::string get_choice(const std::string& key, const std::vector<std::string>& choices,
                         const std::string& fallback);

  const SourceLoc& loc() const { return params_.loc(); }
  SourceLoc loc_of(const std::string& key) const;
  const std::string& what() const { return what_; }

  // Throws Error for the first key that was never asked for, listing the known ones.
  void finish() const;

 private:
  // Throws the error for a required key that is absent, pointing at a misspelling if present.
  [[noreturn]] void missing(const std::string& key) const;
  // `high` is nullopt when only `low` bounds the value.
  [[noreturn]] void out_of_range(const std::string& key, double value, double low, std::optional<double> high) const;

  const Value& params_;
  std::string what_;
  std::set<std::string> known_;
};

// One choice among named kinds (an optimizer, a schedule, a loss, a metric, an op), written as
// `name` or `{name: {options}}`.
struct Choice {
  std::string name;
  Value options;  // null when none
  SourceLoc loc;  // where the name stands
};
// Reads one; `what` names it in messages ("an optimizer"). A map that names two kinds is what an
// overlay leaves when it merges another kind over the spec's: the message says how to switch.
Choice read_choice(const Value& v, const std::string& what);

template <typename T>
T value_as(const Value& v);

template <typename T>
T ParamReader::get(const std::string& key) {
  return value_as<T>(require(key));
}

template <typename T>
T ParamReader::get_or(const std::string& key, T fallback) {
  const Value* v = find(key);
  return v && !v->is_null() ? value_as<T>(*v) : fallback;
}

template <typename T>
T ParamReader::get_in(const std::string& key, T fallback, T low, T high) {
  const T value = get_or<T>(key, fallback);
  if (!(value >= low && value <= high))
    out_of_range(key, static_cast<double>(value), static_cast<double>(low),
                 high == std::numeric_limits<T>::max() ? std::nullopt : std::optional<double>(high));
  return value;
}

}  // namespace dltrain::spec
