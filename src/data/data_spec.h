// data: the `data:` section of a spec, typed. One SplitSpec per split (train, val, test): where
// samples come from, the per-sample ops on each image input, and how batches are formed.
// Paths written in a spec file are relative to that file; paths from --set to the working folder.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "spec/params.h"
#include "spec/spec.h"

namespace dltrain::data {

// How a model input or a target is filled from a source.
struct ColumnSpec {
  enum class Kind { Image, Vector, ClassLabel, Number };
  std::string name;  // model input or output target name
  Kind kind = Kind::Number;
  std::vector<std::string> columns;                // CSV columns; one column may hold a whole vector ("1 2 3")
  int64_t width = 1;                               // values per sample; classes for a ClassLabel
  int64_t channels = 0, height = 0, width_px = 0;  // images
  SourceLoc loc;
};

// The image extensions a folder source takes unless `extensions:` says otherwise.
const std::vector<std::string>& default_image_extensions();

struct SourceSpec {
  std::string kind = "folder";              // the source kind's name (data/source_kinds.h)
  std::string path;                         // folder or manifest, resolved
  std::vector<std::string> shard_patterns;  // Tar: shard paths or patterns, resolved
  char delimiter = ',';
  std::vector<std::string> extensions;
  std::map<std::string, std::string> column_map;  // target name -> CSV column or pattern; Tar: member
  int64_t synthetic_size = 0;
  std::string split_of;  // SplitOf: the split this one is carved from
  double fraction = 0;
  SourceLoc loc;
};

struct OpSpec {
  std::string kind;
  spec::Value params;
  SourceLoc loc;
};

// Mixup and CutMix of a training batch, timm's `Mixup` in its batch mode: with probability
// `prob` per batch, CutMix with probability `switch_prob` when both alphas are on (else the one
// that is), lam ~ Beta(alpha, alpha). Mixup blends the batch with its reverse; CutMix pastes a
// box of the reverse (side sqrt(1 - lam) of the image's, or drawn from cutmix_minmax), lam then
// the share left uncovered when correct_lam. Targets become lam and 1 - lam of the two.
struct MixupSpec {
  double mixup_alpha = 1.0, cutmix_alpha = 0.0;
  std::vector<double> cutmix_minmax;  // [low, high] fractions of the side, or empty
  double prob = 1.0, switch_prob = 0.5;
  bool correct_lam = true;
  SourceLoc loc;
};

struct SplitSpec {
  std::string name;  // train, val, test
  SourceSpec source;
  std::vector<ColumnSpec> columns;                 // every model input and every output target
  std::map<std::string, std::vector<OpSpec>> ops;  // per image input
  int64_t shuffle_buffer = 0;                      // 0: file order; tf.data semantics otherwise
  int64_t batch_size = 32;                         // 0 with auto_batch until train::choose_batch sets it
  bool auto_batch = false;  // `batch: auto`: the largest the memory plan fits (training split only)
  bool drop_remainder = false;
  int64_t workers = 0;               // 0: one per core
  int64_t prefetch = 0;              // batches ready ahead; 0: auto (2 per worker)
  bool cache = false;                // keep decoded samples (before the first random op)
  bool skip_bad = true;              // on_error: skip | fail
  int64_t max_pixels = 100'000'000;  // images declaring more are refused before decoding
  std::optional<MixupSpec> mixup;    // training split only
  SourceLoc loc;
};

struct DataSpec {
  std::map<std::string, SplitSpec> splits;
  const SplitSpec* find(const std::string& name) const;
  SplitSpec* find(const std::string& name);
};

// What an output's target column holds, as its loss wants it.
struct OutputTarget {
  int64_t width = 1;     // the output's features (classes for a class label)
  bool classes = false;  // a class label (an index per sample) rather than numbers
};

// The op kinds a split's `ops:` can name, described (data/ops.h's registry, read without OpenCV).
std::vector<spec::KindDescription> describe_ops();
// The source kinds a split's `source:` can name, described.
std::vector<spec::KindDescription> describe_sources();

// Parses `data:` against the model's inputs and outputs (each becomes a column); `targets` by
// output name (an output missing there is one number). Throws Error (or ErrorList) with locations.
DataSpec parse_data_spec(const spec::Value& data, const spec::ModelSpec& model,
                         const std::map<std::string, OutputTarget>& targets);

}  // namespace dltrain::data
