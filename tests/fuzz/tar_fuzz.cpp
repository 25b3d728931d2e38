// Tar shards: the shard counted and its first sample read (libarchive, the member grouping, the
// json member), then one epoch streamed and decoded as a tar source with a json target.
#include "data/loader.h"
#include "fuzz_main.h"
#include "spec/spec.h"
#include "spec/yaml_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  static const spec::RunSpec run = spec::parse_run_spec(spec::parse_yaml_string(R"(
inputs:
  image: {type: image, channels: 3, size: [8, 8]}
model:
  - global_avg_pool
  - linear: {name: label, out_features: 4}
  - linear: {name: size, from: global_avg_pool, out_features: 2}
outputs:
  label: {loss: sparse_categorical_crossentropy}
  size: {loss: mse}
)",
                                                                                "fuzz.yaml"));
  const std::string path = fuzz::scratch_file(data, size, ".tar");
  return fuzz::expect_dltrain_errors([&] {
    spec::Value section = spec::parse_yaml_string(
        "train: {source: {tar: " + path + "}, ops: [{resize: [8, 8]}], batch: 2, workers: 1, shuffle: 3}", "fuzz.yaml");
    data::DataSpec spec = data::parse_data_spec(section, run.model, {{"label", {4, true}}, {"size", {2, false}}});
    const data::SplitSpec& split = spec.splits.at("train");
    data::Loader loader(split, data::load_table(split), {});
    loader.start_epoch(0);
    while (loader.next()) {
    }
  });
}
