// The CSV/TSV manifest reader: a manifest of image paths, a vector spread over columns t*, a
// one-column vector and a class label, as a data section maps them.
#include "data/source.h"
#include "fuzz_main.h"
#include "spec/spec.h"
#include "spec/yaml_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  static const spec::RunSpec run = spec::parse_run_spec(spec::parse_yaml_string(R"(
inputs:
  image: {type: image, channels: 1, size: [8, 8]}
  spread: {type: vector, size: 3}
  packed: {type: vector, size: 2}
model:
  - flatten: {from: image}
  - concat: {name: all, from: [flatten, spread, packed]}
  - linear: {name: label, out_features: 4}
outputs:
  label: {loss: sparse_categorical_crossentropy}
)",
                                                                                "fuzz.yaml"));
  const std::string path = fuzz::scratch_file(data, size, ".csv");
  return fuzz::expect_dltrain_errors([&] {
    spec::Value section = spec::parse_yaml_string(
        "train: {source: {csv: " + path + ", columns: {image: image, spread: \"t*\", packed: packed, label: label}}}",
        "fuzz.yaml");
    data::DataSpec spec = data::parse_data_spec(section, run.model, {{"label", {4, true}}});
    data::load_table(spec.splits.at("train"));
  });
}
