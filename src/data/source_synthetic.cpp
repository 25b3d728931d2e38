// The `synthetic` source: random pixels and labels, for smoke tests and benchmarks.
#include "data/source_kinds.h"

#include <random>

namespace dltrain::data {
namespace {

// Reproducible random values (fixed seed): images are generated in the workers from
// (seed, row); labels and vectors here. For smoke tests and benchmarks, not for learning.
Table load_synthetic(const SplitSpec& split) {
  Table table = empty_table(split);
  table.rows = split.source.synthetic_size;
  table.synthetic = true;
  table.origin = "synthetic";
  std::mt19937_64 rng(0x5eed);
  std::normal_distribution<float> normal(0.f, 1.f);
  for (auto& c : table.columns) {
    for (int64_t r = 0; r < table.rows; ++r) {
      switch (c.spec.kind) {
        case ColumnSpec::Kind::Image:
          c.paths.emplace_back();
          break;
        case ColumnSpec::Kind::ClassLabel:
          c.labels.push_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(c.spec.width)));
          break;
        default:
          for (int64_t i = 0; i < c.spec.width; ++i) c.values.push_back(normal(rng));
      }
    }
  }
  return table;
}

}  // namespace

void register_synthetic_source(SourceRegistry& registry) {
  registry.add({"synthetic", "random pixels and labels, for smoke tests and benchmarks",
                [](spec::ParamReader& p, SourceSpec& source) {
                  spec::ParamReader s = p.nested("synthetic", "synthetic");
                  // Each sample costs ~25 bytes of index structures, so 10 million stay under 250 MB,
                  // where a typo (1e9) would take 24 GB.
                  s.require("size");
                  source.synthetic_size = s.get_in<int64_t>("size", 0, 1, 10'000'000);
                  s.finish();
                },
                load_synthetic});
}

}  // namespace dltrain::data
