// ParamReader: typed, checked access to one map of parameters (a layer's, an op's, an
// optimizer's). It remembers every key asked for, and finish() rejects the keys nobody asked
// for, suggesting the closest known one: the check that catches `strid: 2`.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "spec/value.h"

namespace dltrain::spec {

// One parameter as a kind reads it, recorded by a describing ParamReader: for `dltrain kinds`,
// error hints and, later, the JSON Schema.
struct ParamInfo {
  std::string key;
  std::string type;      // number, int, bool, string, [number], [int], [string], int or [int], value
  std::string fallback;  // the default as YAML text ("" when required or none)
  bool required = false;
  std::string range;                       // "at least 1", "between 0 and 1"
  std::optional<double> minimum, maximum;  // the same bounds as numbers
  std::vector<std::string> choices;
  // "momentum: number = 0", "step_size: int, required", "mode: min | max = min"
  std::string text() const;
};

// A kind (a layer, an op, an optimizer, ...) as a listing shows it: its help line and parameters.
struct KindDescription {
  std::string name;
  std::string help;
  std::vector<ParamInfo> params;
};

class ParamReader {
 public:
  // `params` is a map or null (no parameters); `what` names the owner in messages ("conv2d").
  ParamReader(const Value& params, std::string what);
  // A reader over no parameters that records in `record` what the code reading it asks for,
  // in order; a required key reads as a placeholder (1, false, "" or []) instead of failing.
  static ParamReader describing(std::vector<ParamInfo>& record, std::string what);

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
  // A file or folder path, resolved against the folder of the spec file that wrote it.
  std::string get_path(const std::string& key);
  // One path or a list of them (`tar: a.tar` or `tar: [a.tar, b.tar]`), each resolved so.
  std::vector<std::string> get_paths(const std::string& key);
  // The parameters under `key` (a map or absent), read by their own reader; a describing reader
  // describes them as "key.name".
  ParamReader nested(const std::string& key, std::string what);
  // A sub-map read only when the spec has it: nullopt when absent or null. A describing reader
  // always has it, so its keys are described (as key.name).
  std::optional<ParamReader> section(const std::string& key, std::string what);
  // A string that must be one of `choices`.
  std::string get_choice(const std::string& key, const std::vector<std::string>& choices, const std::string& fallback);

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

  // Describing mode: records a key (merging what several getters say of it); returns its entry.
  ParamInfo& note(const std::string& key, const std::string& type, const std::string& fallback, bool required);
  bool describing() const { return record_ != nullptr; }

  const Value& params_;
  std::string what_;
  std::set<std::string> known_;
  std::vector<ParamInfo>* record_ = nullptr;
  std::string prefix_;  // describing a nested map: its key and a dot
};

// What `parse` asks of a describing reader (it may stop early: what it asked so far).
std::vector<ParamInfo> describe_params(const std::string& what, const std::function<void(ParamReader&)>& parse);
// "between 0 and 1", or "at least 1" when only `low` bounds a number.
std::string range_text(double low, std::optional<double> high);
// The parameters as one line: "lr: number = 0.001, momentum: number = 0".
std::string params_text(const std::vector<ParamInfo>& params);

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
// A number as written (10000000, not 1e+07), and a string as YAML text (quoted when needed).
std::string number_text(double x);
std::string string_text(const std::string& v);

// The type's name in parameter descriptions ("number", "[int]").
template <typename T>
std::string type_name() {
  if constexpr (std::is_same_v<T, bool>)
    return "bool";
  else if constexpr (std::is_integral_v<T>)
    return "int";
  else if constexpr (std::is_floating_point_v<T>)
    return "number";
  else if constexpr (std::is_same_v<T, std::string>)
    return "string";
  else
    return "[" + type_name<typename T::value_type>() + "]";
}

// What a describing reader returns for a required key: 1 for numbers, else empty.
template <typename T>
T placeholder() {
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>)
    return T(1);
  else
    return T{};
}

// A value as YAML text.
template <typename T>
std::string yaml_text(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_integral_v<T>) {
    return std::to_string(value);
  } else if constexpr (std::is_floating_point_v<T>) {
    return number_text(value);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return string_text(value);
  } else {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + yaml_text(value[i]);
    return out + "]";
  }
}

template <typename T>
T ParamReader::get(const std::string& key) {
  if (describing()) {
    note(key, type_name<T>(), "", true);
    return placeholder<T>();
  }
  return value_as<T>(require(key));
}

template <typename T>
T ParamReader::get_or(const std::string& key, T fallback) {
  if (describing()) note(key, type_name<T>(), yaml_text(fallback), false);
  const Value* v = find(key);
  return v && !v->is_null() ? value_as<T>(*v) : fallback;
}

template <typename T>
T ParamReader::get_in(const std::string& key, T fallback, T low, T high) {
  const T value = get_or<T>(key, fallback);
  const std::optional<double> upper =
      high == std::numeric_limits<T>::max() ? std::nullopt : std::optional<double>(static_cast<double>(high));
  if (describing()) {
    ParamInfo& info = note(key, "value", "", false);
    info.range = range_text(static_cast<double>(low), upper);
    info.minimum = static_cast<double>(low);
    info.maximum = upper;
  }
  if (!(value >= low && value <= high)) out_of_range(key, static_cast<double>(value), static_cast<double>(low), upper);
  return value;
}

}  // namespace dltrain::spec
