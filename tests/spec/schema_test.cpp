// `dltrain schema` as editors and validators read it: a draft 2020-12 schema that the Python
// `jsonschema` package accepts every example spec and overlay against, and that refuses the bad
// fixtures whose mistake is a key or a type.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/helpers.h"

using namespace dltrain;

TEST_CASE("the JSON Schema accepts every example and refuses key and type mistakes", "[spec][e2e]") {
  const char* python = std::getenv("DLTRAIN_PYTHON");
  if (!python) FAIL("DLTRAIN_PYTHON is not set: run the tests through scripts/test.sh (it installs jsonschema)");
  test::TempDir dir;
  const std::string schema = dir.path() + "/spec.schema.json";
  REQUIRE(test::run_dltrain("schema -o " + schema) == 0);
  std::ifstream in(schema);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  CHECK_THAT(text, Catch::Contains("\"$schema\": \"https://json-schema.org/draft/2020-12/schema\""));
  CHECK_THAT(text, Catch::Contains("kernel_size: int or [int], required"));  // the help an editor shows

  const std::string bad = test::source_path("tests/fixtures/specs/bad/");
  std::string valid;
  for (const char* path : {"specs/fashion_mnist.yaml", "specs/miniresnet.yaml", "specs/multi_io_shared.yaml",
                           "specs/product_multi_io.yaml", "specs/bench/pipeline.yaml", "configs/smoke.yaml",
                           "configs/gpu-server.yaml", "README.md"})
    valid += " " + test::source_path(path);
  // batch: auto is a training split's only word for a batch; mixup takes timm's names.
  valid += " " + dir.file("batch_auto.yaml",
                          "data:\n  train:\n    batch: auto\n    mixup: {mixup_alpha: 0.8, cutmix_alpha: 1.0}\n");
  // Refused by dltrain for a key or a type: the schema refuses them too.
  const std::vector<std::string> refused = {"keras_kind", "unknown_kind", "unknown_parameter", "unknown_section",
                                            "wrong_type"};
  std::string invalid;
  for (const auto& name : refused) invalid += " " + bad + name + ".yaml";
  invalid += " " + test::source_path("tests/fixtures/specs/three_mistakes.yaml");
  invalid += " " + dir.file("batch_word.yaml", "data:\n  train:\n    batch: large\n");
  invalid += " " + dir.file("mixup_alpha.yaml", "data:\n  train:\n    mixup: {alpha: 0.2}\n");
  // Only dltrain catches these (shapes, references, cycles, block parameters, conditions, a
  // channels-last shape): the schema accepts them.
  const std::vector<std::string> builder_only = {
      "bad_when",   "block_missing_param", "block_param_type",  "block_unknown_param", "channels_last",
      "cycle",      "duplicate_name",      "linear_after_conv", "missing_from",        "shape_mismatch",
      "share_kind", "unknown_input",       "unknown_output"};
  for (const auto& name : builder_only) valid += " " + bad + name + ".yaml";
  // Every bad fixture is in one list: a new one needs a decision here.
  for (const auto& entry : std::filesystem::directory_iterator(bad)) {
    const std::string name = entry.path().stem().string();
    INFO(name);
    CHECK((std::count(refused.begin(), refused.end(), name) +
           std::count(builder_only.begin(), builder_only.end(), name)) == 1);
  }
  const std::string command = std::string(python) + " " + test::source_path("tests/support/schema_check.py") + " " +
                              schema + " --valid" + valid + " --invalid" + invalid + " > " + dir.path() + "/out.txt";
  const int status = std::system(command.c_str());
  std::ifstream out(dir.path() + "/out.txt");
  INFO(std::string((std::istreambuf_iterator<char>(out)), {}));
  CHECK(status == 0);
}
