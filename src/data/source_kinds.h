// The source kinds behind a split's `source:`. Each is named by the key that holds its main
// value ({folder: PATH}, {csv: PATH, columns: {...}}, ...), reads its settings into a SourceSpec
// and reads its Table. One kind = its file (source_folder.cpp, source_csv.cpp, shards.cpp for
// tar, source_synthetic.cpp, source_split_of.cpp) + a line in source_builtin.cpp + a row in
// tests/data/source_test.cpp's conformance test. Internal to src/data and its tests.
#pragma once

#include <functional>
#include <string>

#include "data/source.h"
#include "spec/params.h"
#include "util/registry.h"

namespace dltrain::data {

struct SourceKind {
  std::string name;
  std::string help;
  std::function<void(spec::ParamReader&, SourceSpec&)> read;
  // Reads the table; empty for split_of, whose rows load_split_table carves from its parent's.
  std::function<Table(const SplitSpec&)> load;
};

using SourceRegistry = Registry<SourceKind>;

const SourceRegistry& source_registry();
void register_builtin_sources(SourceRegistry& registry);

// Helpers shared by the kinds' files.
Error data_error(const std::string& message, const SourceLoc& loc = {});  // bad data, not a bad spec
Table empty_table(const SplitSpec& split);                                // the split's columns, no rows
// `columns: {input or target: what feeds it}` (a CSV column, a tar member).
void read_column_map(spec::ParamReader& p, SourceSpec& source);

}  // namespace dltrain::data
