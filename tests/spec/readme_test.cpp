// The README's spec examples are real: every ```yaml block starting with `# spec:` must build,
// every one starting with `train:` must parse as a train section, and every one starting with
// `data:` must plan with the Fashion-MNIST example's model.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "spec/compose.h"
#include "support/helpers.h"
#include "train/run_plan.h"
#include "train/train_spec.h"

using namespace dltrain;

TEST_CASE("the README's spec examples build", "[spec]") {
  std::ifstream in(test::source_path("README.md"));
  std::string line, block;
  bool inside = false;
  int built = 0, trains = 0, data = 0;
  while (std::getline(in, line)) {
    if (!inside && line == "```yaml") {
      inside = true;
      block.clear();
    } else if (inside && line == "```") {
      inside = false;
      INFO(block);
      if (block.rfind("train:", 0) == 0) {
        CHECK_NOTHROW(train::parse_train_spec(*test::yaml(block).find("train")));
        ++trains;
        continue;
      }
      if (block.rfind("data:", 0) == 0) {
        spec::Value document = spec::load_with_includes(test::source_path("specs/fashion_mnist.yaml"));
        // Each split the example writes replaces the example spec's.
        spec::Value splits = *document.find("data");
        const spec::Value example = test::yaml(block);
        for (const auto& split : example.find("data")->entries()) splits.set(split.key, split.value, split.key_loc);
        document.set("data", splits, splits.loc());
        CHECK_NOTHROW(train::plan_run(document));
        ++data;
        continue;
      }
      if (block.rfind("# spec:", 0) != 0) continue;
      CHECK_NOTHROW(test::graph_of(block));
      ++built;
    } else if (inside) {
      block += line + "\n";
    }
  }
  CHECK(built >= 3);
  CHECK(trains >= 2);
  CHECK(data >= 2);
}
