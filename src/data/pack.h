// `dltrain pack`: writes a dataset as WebDataset tar shards (data/shards.h) with an index, from
// an image folder (root/<class>/<image>: members `<ext>` with the file's bytes and `cls` with
// the class index; the index names the classes) or a CSV/TSV manifest (a member per column of
// image paths, `<ext>` or `<column>.<ext>`, and the other columns as one `json` member).
// Images keep their original bytes: nothing is decoded or re-encoded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "data/source.h"

namespace dltrain::data {

struct PackOptions {
  std::string input;   // an image folder or a .csv/.tsv manifest
  std::string output;  // the shards' folder (created)
  std::string prefix;  // shards are PREFIX-000000.tar, ...; default: the input's name
  int64_t shard_bytes = int64_t{1000} * 1000 * 1000;
  bool shuffle = true;  // samples in a seeded random order, so that each shard mixes the classes
  uint64_t seed = 0;
  bool overwrite = false;  // replace the shards and index of an earlier pack in `output`
};

struct PackReport {
  int64_t samples = 0, bytes = 0;
  std::vector<Shard> shards;  // as written, paths in `output`
};

// Writes the shards (each appears whole: written aside, then renamed) and then index.json;
// `on_shard` is told of each shard when it is complete. Throws Error naming the input file or
// shard at fault.
PackReport pack_dataset(const PackOptions& options, const std::function<void(const Shard&)>& on_shard = {});

}  // namespace dltrain::data
