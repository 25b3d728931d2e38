// The README's spec examples are real: every ```yaml block starting with `# spec:` must build,
// and every one starting with `train:` must parse as a train section.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "support/helpers.h"
#include "train/train_spec.h"

using namespace dltrain;

TEST_CASE("the README's spec examples build", "[spec]") {
  std::ifstream in(test::source_path("README.md"));
  std::string line, block;
  bool inside = false;
  int built = 0, trains = 0;
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
      if (block.rfind("# spec:", 0) != 0) continue;
      CHECK_NOTHROW(test::graph_of(block));
      ++built;
    } else if (inside) {
      block += line + "\n";
    }
  }
  CHECK(built >= 3);
  CHECK(trains >= 2);
}
