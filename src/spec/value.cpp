#include "spec/value.h"

#include <filesystem>

#include <cmath>
#include <sstream>

namespace dltrain::spec {

const char* type_name(Value::Type type) {
  switch (type) {
    case Value::Type::Null:
      return "null";
    case Value::Type::Bool:
      return "boolean";
    case Value::Type::Int:
      return "integer";
    case Value::Type::Float:
      return "number";
    case Value::Type::String:
      return "string";
    case Value::Type::List:
      return "list";
    case Value::Type::Map:
      return "map";
  }
  return "?";
}

Value Value::null(SourceLoc loc) {
  Value v;
  v.loc_ = std::move(loc);
  return v;
}
Value Value::boolean(bool b, SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::Bool;
  v.bool_ = b;
  return v;
}
Value Value::integer(int64_t i, SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::Int;
  v.int_ = i;
  return v;
}
Value Value::real(double d, SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::Float;
  v.float_ = d;
  return v;
}
Value Value::string(std::string s, SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::String;
  v.string_ = std::move(s);
  return v;
}
Value Value::list(std::vector<Value> items, SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::List;
  v.list_ = std::move(items);
  return v;
}
Value Value::map(SourceLoc loc) {
  Value v = null(std::move(loc));
  v.type_ = Type::Map;
  return v;
}

namespace {
[[noreturn]] void type_error(const Value& v, const char* expected) {
  throw Error(std::string("expected ") + expected + ", got " + v.describe(), v.loc());
}
}  // namespace

bool Value::as_bool() const {
  if (type_ != Type::Bool) type_error(*this, "true or false");
  return bool_;
}
int64_t Value::as_int() const {
  if (type_ == Type::Float && std::floor(float_) == float_ && std::abs(float_) < 9e15)
    return static_cast<int64_t>(float_);
  if (type_ != Type::Int) type_error(*this, "an integer");
  return int_;
}
double Value::as_double() const {
  if (type_ == Type::Int) return static_cast<double>(int_);
  if (type_ != Type::Float) type_error(*this, "a number");
  return float_;
}
const std::string& Value::as_string() const {
  if (type_ != Type::String) type_error(*this, "a string");
  return string_;
}
const std::vector<Value>& Value::items() const {
  if (type_ != Type::List) type_error(*this, "a list");
  return list_;
}
std::vector<Value>& Value::items() {
  if (type_ != Type::List) type_error(*this, "a list");
  return list_;
}
const std::vector<MapEntry>& Value::entries() const {
  if (type_ != Type::Map) type_error(*this, "a map");
  return map_;
}
std::vector<MapEntry>& Value::entries() {
  if (type_ != Type::Map) type_error(*this, "a map");
  return map_;
}

const Value* Value::find(const std::string& key) const {
  if (type_ != Type::Map) return nullptr;
  for (const auto& e : map_)
    if (e.key == key) return &e.value;
  return nullptr;
}
Value* Value::find(const std::string& key) { return const_cast<Value*>(static_cast<const Value*>(this)->find(key)); }
void Value::set(const std::string& key, Value value, SourceLoc key_loc) {
  for (auto& e : entries()) {
    if (e.key == key) {
      e.value = std::move(value);
      return;
    }
  }
  map_.push_back({key, key_loc.known() ? key_loc : value.loc(), std::move(value)});
}
bool Value::erase(const std::string& key) {
  for (auto it = map_.begin(); it != map_.end(); ++it) {
    if (it->key == key) {
      map_.erase(it);
      return true;
    }
  }
  return false;
}
std::vector<std::string> Value::keys() const {
  std::vector<std::string> out;
  for (const auto& e : map_) out.push_back(e.key);
  return out;
}

std::string Value::describe() const {
  switch (type_) {
    case Type::String:
      return "string '" + string_ + "'";
    case Type::Int:
    case Type::Float:
    case Type::Bool:
      return std::string(type_name(type_)) + " " + to_text();
    default:
      return type_name(type_);
  }
}

std::string Value::to_text() const {
  std::ostringstream out;
  switch (type_) {
    case Type::Null:
      return "null";
    case Type::Bool:
      return bool_ ? "true" : "false";
    case Type::Int:
      return std::to_string(int_);
    case Type::Float: {
      out.precision(17);
      out << float_;
      std::string s = out.str();
      if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
      return s;
    }
    case Type::String:
      return string_;
    case Type::List: {
      out << "[";
      for (size_t i = 0; i < list_.size(); ++i) out << (i ? ", " : "") << list_[i].to_text();
      out << "]";
      return out.str();
    }
    case Type::Map: {
      out << "{";
      for (size_t i = 0; i < map_.size(); ++i) out << (i ? ", " : "") << map_[i].key << ": " << map_[i].value.to_text();
      out << "}";
      return out.str();
    }
  }
  return {};
}

bool Value::operator==(const Value& other) const {
  if (is_number() && other.is_number()) return as_double() == other.as_double();
  if (type_ != other.type_) return false;
  switch (type_) {
    case Type::Null:
      return true;
    case Type::Bool:
      return bool_ == other.bool_;
    case Type::String:
      return string_ == other.string_;
    case Type::List:
      return list_ == other.list_;
    case Type::Map:
      if (map_.size() != other.map_.size()) return false;
      for (const auto& e : map_) {
        const Value* o = other.find(e.key);
        if (!o || *o != e.value) return false;
      }
      return true;
    default:
      return false;
  }
}

std::string resolve_path(const Value& v) {
  const std::filesystem::path written(v.as_string());
  if (written.is_absolute() || v.loc().line == 0) return written.lexically_normal().string();
  return (std::filesystem::path(v.loc().file).parent_path() / written).lexically_normal().string();
}

}  // namespace dltrain::spec
