// Conditions and computed values in blocks: `when: "$stride != 1 or channels($in) != $filters"`,
// `out_channels: ${filters * 4}`. Numbers, strings, booleans; + - * / // %; comparisons;
// and/or/not; parentheses; functions channels(x), height(x), width(x), features(x) on node
// shapes and min(a, b), max(a, b). Names are block parameters, with or without `$`.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "graph/layer_config.h"
#include "spec/value.h"

namespace dltrain::graph {

struct ExprEnv {
  // A block parameter's value, or nullopt when there is no such parameter.
  std::function<std::optional<spec::Value>(const std::string&)> variable;
  // The output shape of the node a name refers to ("in" is the block input); throws Error.
  std::function<Shape(const std::string&)> shape_of;
  std::vector<std::string> variable_names;  // for "did you mean"
};

// Evaluates `text`; throws Error at `loc` for syntax errors, unknown names and type errors.
// Integral numbers come back as Value::Type::Int.
spec::Value evaluate(const std::string& text, const SourceLoc& loc, const ExprEnv& env);

}  // namespace dltrain::graph
