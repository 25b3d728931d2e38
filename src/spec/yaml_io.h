// YAML text <-> spec::Value. The only interface to yaml-cpp; its types never leave yaml_io.cpp.
#pragma once

#include <string>

#include "spec/value.h"

namespace dltrain::spec {

// Parses a YAML file; throws Error at the file (and line:col of a syntax error) when unreadable.
Value parse_yaml_file(const std::string& path);
// Parses YAML text; `origin` is the file name that locations report.
Value parse_yaml_string(const std::string& text, const std::string& origin);
// Emits block-style YAML that parses back to an equal Value.
std::string to_yaml(const Value& value);

}  // namespace dltrain::spec
