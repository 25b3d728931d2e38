#include "data/source.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <random>

#include "data/source_kinds.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;

// split_of over a tar source, refused: its rows are not in memory to carve.
Error tar_carving(const std::string& split, const SourceLoc& loc) {
  return Error("split_of cannot carve samples out of a tar source (they stream from the shards); give '" + split +
                   "' shards of its own (dltrain pack a separate folder)",
               loc);
}

}  // namespace

Error data_error(const std::string& message, const SourceLoc& loc) {
  return Error(message, loc, {}, ErrorKind::Runtime);
}

Table empty_table(const SplitSpec& split) {
  Table table;
  for (const auto& c : split.columns) table.columns.push_back(Column{c, {}, {}, {}, {}, {}});
  return table;
}

void read_column_map(spec::ParamReader& p, SourceSpec& source) {
  if (const spec::Value* columns = p.find("columns"))
    for (const auto& e : columns->entries()) source.column_map[e.key] = e.value.as_string();
}

std::vector<std::string> split_csv_line(const std::string& line, char delimiter) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        fields.back() += '"', ++i;
      else if (c == '"')
        quoted = false;
      else
        fields.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == delimiter) {
      fields.emplace_back();
    } else if (c != '\r') {
      fields.back() += c;
    }
  }
  return fields;
}

bool parse_float(const std::string& text, float& out) {
  std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  out = std::strtof(t.c_str(), &end);
  return end && *end == '\0';
}

std::string lower_extension(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

bool has_image_extension(const std::string& path) {
  const auto& known = default_image_extensions();
  return std::find(known.begin(), known.end(), lower_extension(path)) != known.end();
}

const Column* Table::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.spec.name == name) return &c;
  return nullptr;
}

std::vector<std::string> image_files(const std::string& dir, const std::vector<std::string>& extensions,
                                     bool recursive) {
  std::vector<std::string> files;
  auto take = [&](const fs::directory_entry& entry) {
    if (!entry.is_regular_file()) return;
    const std::string ext = lower_extension(entry.path().string());
    if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end())
      files.push_back(entry.path().string());
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(dir)) take(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(dir)) take(entry);
  }
  std::sort(files.begin(), files.end());
  return files;
}

Table load_table(const SplitSpec& split) {
  const SourceKind* kind = source_registry().find(split.source.kind);
  DLT_ASSERT(kind && kind->load, "source kind without a table of its own: ", split.source.kind);
  return kind->load(split);
}

Table load_split_table(const DataSpec& data, const std::string& name, uint64_t seed) {
  const SplitSpec* split = data.find(name);
  if (!split) {
    std::vector<std::string> names;
    for (const auto& [n, s] : data.splits) names.push_back(n);
    throw Error("the spec has no data split '" + name + "'" + did_you_mean(name, names) +
                (names.empty() ? std::string("; add a `data:` section") : "; splits: " + join(names)));
  }
  if (split->source.kind == "split_of") {
    const SplitSpec& parent = data.splits.at(split->source.split_of);
    if (parent.source.kind == "tar") throw tar_carving(name, split->source.loc);
    Table whole = load_table(parent);
    return split_rows(whole, split->source.fraction, seed).second;
  }
  Table table = load_table(*split);
  for (const auto& [other, s] : data.splits)  // a split carved out of this one takes its rows away
    if (s.source.kind == "split_of" && s.source.split_of == name) {
      if (!table.shards.empty()) throw tar_carving(other, s.source.loc);
      table = split_rows(table, s.source.fraction, seed).first;
    }
  return table;
}

std::pair<Table, Table> split_rows(const Table& table, double fraction, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(table.rows));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t carved = static_cast<size_t>(static_cast<double>(table.rows) * fraction + 0.5);
  std::vector<int64_t> rest_rows(order.begin() + static_cast<long>(carved), order.end());
  std::vector<int64_t> carved_rows(order.begin(), order.begin() + static_cast<long>(carved));
  std::sort(rest_rows.begin(), rest_rows.end());
  std::sort(carved_rows.begin(), carved_rows.end());
  auto take = [&table](const std::vector<int64_t>& rows) {
    Table out = table;
    out.rows = static_cast<int64_t>(rows.size());
    for (size_t k = 0; k < table.columns.size(); ++k) {
      const Column& from = table.columns[k];
      Column& to = out.columns[k];
      to.paths.clear();
      to.values.clear();
      to.labels.clear();
      for (int64_t r : rows) {
        if (!from.paths.empty()) to.paths.push_back(from.paths[static_cast<size_t>(r)]);
        if (!from.labels.empty()) to.labels.push_back(from.labels[static_cast<size_t>(r)]);
        const size_t w = static_cast<size_t>(from.spec.width);
        if (!from.values.empty())
          to.values.insert(to.values.end(), from.values.begin() + static_cast<long>(r * static_cast<int64_t>(w)),
                           from.values.begin() + static_cast<long>((r + 1) * static_cast<int64_t>(w)));
      }
    }
    return out;
  };
  return {take(rest_rows), take(carved_rows)};
}

}  // namespace dltrain::data
