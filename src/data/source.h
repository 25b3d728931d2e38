// Sources turn a SplitSpec's `source:` into a Table: one row per sample, one column per model
// input and target. Image columns hold paths (decoded later, in the workers); everything else
// is already numeric. Errors in a manifest name file:line and the column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/data_spec.h"

namespace dltrain::data {

struct Column {
  ColumnSpec spec;
  std::vector<std::string> paths;        // Image: one per row (empty for synthetic images)
  std::vector<float> values;             // Vector / Number: width per row
  std::vector<int64_t> labels;           // ClassLabel: one per row
  std::vector<std::string> class_names;  // ClassLabel: index -> name, when the source names classes
  std::string member;                    // tar sources: the member that feeds it (a suffix or glob, or json.FIELD)
};

// One tar shard of a tar source (data/shards.h).
struct Shard {
  std::string path;
  int64_t samples = 0;
  int64_t bytes = 0;  // the file's size when counted, to notice a shard rewritten since its index
};

struct Table {
  int64_t rows = 0;
  std::vector<Column> columns;  // in SplitSpec::columns order
  bool synthetic = false;       // images are generated from (seed, row)
  // A tar source: samples stream from these shards (rows number them in this order); the
  // columns hold no per-row values, only which member feeds each (data/shards.h).
  std::vector<Shard> shards;
  std::string origin;  // for messages

  const Column* find(const std::string& name) const;
};

// RFC 4180 fields of one line: quotes, doubled quotes inside quotes, the delimiter inside quotes.
std::vector<std::string> split_csv_line(const std::string& line, char delimiter);
// A whole field as a number (spaces around it allowed); false for anything else.
bool parse_float(const std::string& text, float& out);
// A file name's extension with its dot, in lower case (".jpg"); "" when it has none.
std::string lower_extension(const std::string& path);
// Whether a file name ends in one of default_image_extensions(), in any case.
bool has_image_extension(const std::string& path);

// Reads the source (lists a folder, parses a manifest, sizes a synthetic set). SplitOf sources
// are resolved by the caller with split_rows().
Table load_table(const SplitSpec& split);

// The image files in `dir` whose extension (any case) is one of `extensions`, sorted; with
// `recursive`, in its sub-folders too. The folder source and `predict` list images this way.
std::vector<std::string> image_files(const std::string& dir, const std::vector<std::string>& extensions,
                                     bool recursive);

// The table of a named split, resolving `split_of` (the parent split loses the carved rows).
// Throws Error when the split does not exist.
Table load_split_table(const DataSpec& data, const std::string& split, uint64_t seed);

// Carves `fraction` of the rows (a seeded permutation) out of `table`: returns {rest, carved}.
std::pair<Table, Table> split_rows(const Table& table, double fraction, uint64_t seed);

}  // namespace dltrain::data
