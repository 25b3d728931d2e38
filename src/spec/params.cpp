#include "spec/params.h"

#include <cmath>
#include <sstream>

#include "util/strings.h"

namespace dltrain::spec {

template <>
bool value_as<bool>(const Value& v) {
  return v.as_bool();
}
template <>
int64_t value_as<int64_t>(const Value& v) {
  return v.as_int();
}
template <>
int value_as<int>(const Value& v) {
  int64_t i = v.as_int();
  if (i < INT32_MIN || i > INT32_MAX) throw Error("integer out of range: " + v.to_text(), v.loc());
  return static_cast<int>(i);
}
template <>
double value_as<double>(const Value& v) {
  return v.as_double();
}
template <>
std::string value_as<std::string>(const Value& v) {
  return v.as_string();
}
template <>
std::vector<int64_t> value_as<std::vector<int64_t>>(const Value& v) {
  std::vector<int64_t> out;
  for (const auto& item : v.items()) out.push_back(item.as_int());
  return out;
}
template <>
std::vector<double> value_as<std::vector<double>>(const Value& v) {
  std::vector<double> out;
  for (const auto& item : v.items()) out.push_back(item.as_double());
  return out;
}
template <>
std::vector<std::string> value_as<std::vector<std::string>>(const Value& v) {
  if (v.is_string()) return {v.as_string()};
  std::vector<std::string> out;
  for (const auto& item : v.items()) out.push_back(item.as_string());
  return out;
}

namespace {
const Value kNoParameters;
}  // namespace

std::string number_text(double x) {
  std::ostringstream out;
  if (std::isfinite(x) && std::abs(x) < 1e15 && x == std::floor(x))
    out << static_cast<int64_t>(x);
  else
    out << x;
  return out.str();
}

std::string string_text(const std::string& v) {
  return v.empty() || v.find_first_of(",:[]{}#'\" \t") != std::string::npos ? "'" + v + "'" : v;
}

std::string ParamInfo::text() const {
  std::string out = key + ": " + (choices.empty() ? type : join(choices, " | "));
  if (!fallback.empty()) out += " = " + fallback;
  if (required) out += ", required";
  if (!range.empty()) out += " (" + range + ")";
  return out;
}

ParamReader ParamReader::describing(std::vector<ParamInfo>& record, std::string what) {
  ParamReader reader(kNoParameters, std::move(what));
  reader.record_ = &record;
  return reader;
}

std::string ParamReader::get_path(const std::string& key) {
  if (describing()) {
    note(key, "path", "", true);
    return "";
  }
  return resolve_path(require(key));
}

std::vector<std::string> ParamReader::get_paths(const std::string& key) {
  if (describing()) {
    note(key, "path or [path]", "", true);
    return {};
  }
  const Value& v = require(key);
  if (!v.is_list()) return {resolve_path(v)};
  std::vector<std::string> paths;
  for (const Value& item : v.items()) paths.push_back(resolve_path(item));
  if (paths.empty()) throw Error("'" + key + "' lists no paths", v.loc());
  return paths;
}

ParamReader ParamReader::nested(const std::string& key, std::string what) {
  if (!describing()) {
    const Value* v = find(key);
    return ParamReader(v ? *v : kNoParameters, std::move(what));
  }
  known_.insert(key);
  note(key, "map", "", false);
  ParamReader inner(kNoParameters, std::move(what));
  inner.record_ = record_;
  inner.prefix_ = prefix_ + key + ".";
  return inner;
}

std::optional<ParamReader> ParamReader::section(const std::string& key, std::string what) {
  if (describing()) return nested(key, std::move(what));
  const Value* v = find(key);
  if (!v || v->is_null()) return std::nullopt;
  return ParamReader(*v, std::move(what));
}

ParamInfo& ParamReader::note(const std::string& bare_key, const std::string& type, const std::string& fallback,
                             bool required) {
  const std::string key = prefix_ + bare_key;
  for (ParamInfo& info : *record_) {
    if (info.key != key) continue;
    if (info.type == "value") info.type = type;  // find() first, then a typed getter
    info.required = info.required || required;
    if (info.fallback.empty() && !info.required) info.fallback = fallback;
    return info;
  }
  ParamInfo info;
  info.key = key;
  info.type = type;
  info.fallback = fallback;
  info.required = required;
  return record_->emplace_back(std::move(info));
}

std::string range_text(double low, std::optional<double> high) {
  return high ? "between " + number_text(low) + " and " + number_text(*high) : "at least " + number_text(low);
}

std::vector<ParamInfo> describe_params(const std::string& what, const std::function<void(ParamReader&)>& parse) {
  std::vector<ParamInfo> record;
  ParamReader reader = ParamReader::describing(record, what);
  try {
    parse(reader);
  } catch (const Error&) {
    // A check on a placeholder value: what it asked until then is the description.
  }
  return record;
}

std::string params_text(const std::vector<ParamInfo>& params) {
  std::vector<std::string> parts;
  for (const auto& p : params) parts.push_back(p.text());
  return join(parts, ", ");
}

ParamReader::ParamReader(const Value& params, std::string what) : params_(params), what_(std::move(what)) {
  if (!params_.is_null() && !params_.is_map())
    throw Error(what_ + " takes a map of parameters, got " + params_.describe(), params_.loc());
}

bool ParamReader::has(const std::string& key) {
  const Value* v = find(key);
  return v && !v->is_null();
}

const Value* ParamReader::find(const std::string& key) {
  known_.insert(key);
  if (describing()) note(key, "value", "", false);
  return params_.find(key);
}

const Value& ParamReader::require(const std::string& key) {
  const Value* v = find(key);
  if (v && !v->is_null()) return *v;
  if (describing()) {
    note(key, "value", "", true);
    return kNoParameters;
  }
  missing(key);
}

void ParamReader::missing(const std::string& key) const {
  // A near miss among the given keys is most likely the user's spelling of this one.
  if (params_.is_map()) {
    for (const auto& e : params_.entries()) {
      if (known_.count(e.key) || closest_match(e.key, {key}).empty()) continue;
      throw Error(what_ + " needs '" + key + "'; '" + e.key + "' is not a " + what_ + " parameter (did you mean '" +
                      key + "'?)",
                  e.key_loc);
    }
  }
  throw Error(what_ + " needs '" + key + "'", params_.loc());
}

std::vector<int64_t> ParamReader::get_ints(const std::string& key, size_t size,
                                           std::optional<std::vector<int64_t>> fallback) {
  if (describing()) {
    note(key, "int or [int]",
         fallback ? (fallback->size() == 1 ? yaml_text((*fallback)[0]) : yaml_text(*fallback)) : "", !fallback);
    return fallback ? *fallback : std::vector<int64_t>(size, 1);
  }
  const Value* v = find(key);
  if (!v || v->is_null()) {
    if (!fallback) missing(key);
    return *fallback;
  }
  if (!v->is_list()) return std::vector<int64_t>(size, v->as_int());
  auto out = value_as<std::vector<int64_t>>(*v);
  if (out.size() != size)
    throw Error("'" + key + "' needs " + std::to_string(size) + " integers, got " + std::to_string(out.size()),
                v->loc());
  return out;
}

std::string ParamReader::get_choice(const std::string& key, const std::vector<std::string>& choices,
                                    const std::string& fallback) {
  if (describing()) {
    note(key, "string", fallback, false).choices = choices;
    return fallback;
  }
  const Value* v = find(key);
  if (!v || v->is_null()) return fallback;
  const std::string& s = v->as_string();
  for (const auto& c : choices)
    if (c == s) return s;
  throw Error("'" + key + "' must be one of " + join(choices) + ", got '" + s + "'" + did_you_mean(s, choices),
              v->loc());
}

void ParamReader::out_of_range(const std::string& key, double value, double low, std::optional<double> high) const {
  throw Error("'" + key + "' must be " + range_text(low, high) + " (" + what_ + "), got " + number_text(value),
              loc_of(key));
}

SourceLoc ParamReader::loc_of(const std::string& key) const {
  const Value* v = params_.find(key);
  return v ? v->loc() : params_.loc();
}

void ParamReader::finish() const {
  if (!params_.is_map()) return;
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& e : params_.entries()) {
    if (known_.count(e.key)) continue;
    std::string message = "unknown parameter '" + e.key + "' for " + what_ + did_you_mean(e.key, known);
    message += known.empty() ? std::string("; it takes no parameters") : "; known: " + join(known);
    throw Error(message, e.key_loc);
  }
}

Choice read_choice(const Value& v, const std::string& what) {
  if (v.is_string()) return {v.as_string(), Value(), v.loc()};
  if (v.is_map() && v.entries().size() == 1) return {v.entries()[0].key, v.entries()[0].value, v.entries()[0].key_loc};
  if (v.is_map() && v.entries().size() > 1) {
    std::vector<std::string> kinds;
    for (const auto& e : v.entries()) kinds.push_back("'" + e.key + "' (" + e.key_loc.str() + ")");
    const std::string& first = v.entries()[0].key;
    throw Error(what + " is one kind, but " + std::to_string(kinds.size()) + " are named: " + join(kinds) +
                    "; an overlay that switches kinds removes the old one too: `" + first + ": null`",
                v.entries()[1].key_loc);
  }
  throw Error(what + " is a name or {name: {options}}, got " + v.describe(), v.loc());
}

}  // namespace dltrain::spec
