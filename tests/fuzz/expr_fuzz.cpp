// The expression language of `when:` and `${...}`, with parameters and shapes to look up.
#include "fuzz_main.h"
#include "graph/expr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  static const graph::ExprEnv env{[](const std::string& name) -> std::optional<spec::Value> {
                                    if (name == "filters") return spec::Value::integer(64, {});
                                    if (name == "p") return spec::Value::real(0.5, {});
                                    if (name == "name") return spec::Value::string("conv", {});
                                    if (name == "flag") return spec::Value::boolean(true, {});
                                    return std::nullopt;
                                  },
                                  [](const std::string& name) -> graph::Shape {
                                    if (name == "in") return {3, 32, 32};
                                    if (name == "vec") return {10};
                                    throw Error("unknown layer '" + name + "'");
                                  },
                                  {"filters", "p", "name", "flag"}};
  return fuzz::expect_dltrain_errors([&] {
    graph::evaluate(std::string(reinterpret_cast<const char*>(data), size), {"fuzz.yaml", 1, 1}, env);
  });
}
