// The spec front end as `dltrain check` runs it before building: YAML parse, `--set` overrides
// (input lines starting with "#set "), the run spec, the graph (blocks, expressions, shapes) and
// the data and train sections' validation (train::plan_run).
#include <sstream>

#include "fuzz_main.h"
#include "spec/compose.h"
#include "spec/yaml_io.h"
#include "train/run_plan.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  return fuzz::expect_dltrain_errors([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    spec::Value document = spec::parse_yaml_string(text, "fuzz.yaml");
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
      if (line.rfind("#set ", 0) == 0) spec::apply_override(document, line.substr(5));
    train::plan_run(document);
  });
}
