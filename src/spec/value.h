// spec::Value: a YAML document as plain data (null/bool/int/float/string/list/map), every value
// carrying the SourceLoc it came from. After parsing nothing outside src/spec sees yaml-cpp.
// Maps keep their keys in file order (for printing and for spec-order tie breaks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "util/error.h"

namespace dltrain::spec {

struct MapEntry;

class Value {
 public:
  enum class Type { Null, Bool, Int, Float, String, List, Map };

  Value() = default;
  static Value null(SourceLoc loc = {});
  static Value boolean(bool v, SourceLoc loc = {});
  static Value integer(int64_t v, SourceLoc loc = {});
  static Value real(double v, SourceLoc loc = {});
  static Value string(std::string v, SourceLoc loc = {});
  static Value list(std::vector<Value> items, SourceLoc loc = {});
  static Value map(SourceLoc loc = {});

  Type type() const { return type_; }
  const SourceLoc& loc() const { return loc_; }
  void set_loc(const SourceLoc& loc) { loc_ = loc; }
  bool is_null() const { return type_ == Type::Null; }
  bool is_map() const { return type_ == Type::Map; }
  bool is_list() const { return type_ == Type::List; }
  bool is_string() const { return type_ == Type::String; }
  bool is_number() const { return type_ == Type::Int || type_ == Type::Float; }
  bool is_scalar() const { return !is_map() && !is_list(); }

  // Typed access; each throws a spec Error at loc() naming the expected and the found type.
  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;  // ints convert
  const std::string& as_string() const;
  const std::vector<Value>& items() const;  // list
  std::vector<Value>& items();
  const std::vector<MapEntry>& entries() const;  // map
  std::vector<MapEntry>& entries();

  // Map lookup; nullptr when absent. set() replaces or appends, keeping order.
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value value, SourceLoc key_loc = {});
  bool erase(const std::string& key);
  std::vector<std::string> keys() const;

  // "integer", "string 'abc'", "map", ... for messages.
  std::string describe() const;
  // Scalars as written ("3", "0.5", "true", "abc"); lists and maps in YAML flow style.
  std::string to_text() const;

  bool operator==(const Value& other) const;  // structural, ignores locations
  bool operator!=(const Value& other) const { return !(*this == other); }

 private:
  Type type_ = Type::Null;
  SourceLoc loc_;
  bool bool_ = false;
  int64_t int_ = 0;
  double float_ = 0;
  std::string string_;
  std::vector<Value> list_;
  std::vector<MapEntry> map_;
};

struct MapEntry {
  std::string key;
  SourceLoc key_loc;
  Value value;
};

const char* type_name(Value::Type type);

// A path as written in a spec: relative to the file that wrote it, or to the working folder for
// a --set override (no file line).
std::string resolve_path(const Value& v);

}  // namespace dltrain::spec
