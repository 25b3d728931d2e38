#include <catch2/catch.hpp>

#include "graph/expr.h"

using namespace dltrain;
using spec::Value;

namespace {
graph::ExprEnv env() {
  graph::ExprEnv e;
  e.variable = [](const std::string& name) -> std::optional<Value> {
    if (name == "stride") return Value::integer(2);
    if (name == "filters") return Value::integer(64);
    if (name == "mode") return Value::string("fast");
    return std::nullopt;
  };
  e.variable_names = {"filters", "mode", "stride"};
  e.shape_of = [](const std::string& ref) -> graph::Shape {
    if (ref == "in") return {32, 16, 16};
    throw Error("no node " + ref);
  };
  return e;
}
Value eval(const std::string& text) { return graph::evaluate(text, {"t.yaml", 1, 1}, env()); }
}  // namespace

TEST_CASE("expressions: the seed's projection condition", "[graph]") {
  CHECK(eval("$stride != 1 or channels($in) != $filters").as_bool());
  CHECK_FALSE(eval("stride == 2 and channels(in) == 32 and not true").as_bool());
  CHECK(eval("channels($in) * 2 == $filters").as_bool());
}

TEST_CASE("expressions: arithmetic keeps integers integral", "[graph]") {
  CHECK(eval("$filters * 4").type() == Value::Type::Int);
  CHECK(eval("$filters * 4").as_int() == 256);
  CHECK(eval("$filters // 3").as_int() == 21);
  CHECK(eval("$filters / 128").as_double() == 0.5);
  CHECK(eval("-(1 + 2) * 3").as_int() == -9);
  CHECK(eval("max(height($in), 3) - min(1, 2)").as_int() == 15);
  CHECK(eval("$mode == 'fast'").as_bool());
}

TEST_CASE("expressions: errors say what and where", "[graph]") {
  CHECK_THROWS_WITH(eval("$strid != 1"), Catch::Contains("t.yaml:1:1") &&
                                             Catch::Contains("unknown parameter 'strid' (did you mean 'stride'?)"));
  CHECK_THROWS_WITH(eval("$stride +"), Catch::Contains("unexpected end"));
  CHECK_THROWS_WITH(eval("chanels($in)"), Catch::Contains("did you mean 'channels'?"));
  CHECK_THROWS_WITH(eval("$mode * 2"), Catch::Contains("'*' needs numbers"));
  CHECK_THROWS_WITH(eval("(1 + 2"), Catch::Contains("missing ')'"));
  CHECK_THROWS_WITH(eval("features($in)"), Catch::Contains("needs a vector"));
}

TEST_CASE("expressions: numbers strtod cannot read are errors, not std exceptions (fuzz findings)", "[graph]") {
  // tests/fuzz/regressions/expr: a lone '.' reached std::stod, which threw std::invalid_argument.
  CHECK_THROWS_AS(eval(std::string(".\0\0* 4", 6)), Error);
  CHECK_THROWS_WITH(eval("."), Catch::Contains("t.yaml:1:1") && Catch::Contains("a number was expected"));
  CHECK_THROWS_WITH(eval("1e999 > 2"), Catch::Contains("number out of range: 1e999"));
  // tests/fuzz/regressions/expr: thousands of '(' recursed until the stack overflowed.
  CHECK_THROWS_WITH(eval(std::string(100000, '(') + "1"), Catch::Contains("nested deeper than 200 levels"));
  CHECK_THROWS_WITH(eval(std::string(100000, '-') + "1"), Catch::Contains("nested deeper than 200 levels"));
  CHECK(eval(std::string(150, '(') + "1" + std::string(150, ')')).as_int() == 1);
}
