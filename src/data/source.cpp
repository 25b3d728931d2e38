#include "data/source.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <regex>

#include "data/shards.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;

Error data_error(const std::string& message, const SourceLoc& loc = {}) {
  return Error(message, loc, {}, ErrorKind::Runtime);
}

Table empty_table(const SplitSpec& split) {
  Table table;
  for (const auto& c : split.columns) table.columns.push_back(Column{c, {}, {}, {}, {}, {}});
  return table;
}

// root/<class>/<image>: the single image input gets the path, the single class target the
// class index (classes sorted by name).
Table load_folder(const SplitSpec& split) {
  const SourceSpec& source = split.source;
  if (!fs::is_directory(source.path)) throw data_error("image folder not found: " + source.path, source.loc);
  Table table = empty_table(split);
  table.origin = source.path;
  Column* image = nullptr;
  Column* label = nullptr;
  for (auto& c : table.columns) {
    if (c.spec.kind == ColumnSpec::Kind::Image) {
      if (image)
        throw data_error("a folder source feeds one image input; this model has several (use a csv source)",
                         source.loc);
      image = &c;
    } else if (c.spec.kind == ColumnSpec::Kind::ClassLabel) {
      if (label)
        throw data_error("a folder source gives one class label; this model has several targets (use a csv source)",
                         source.loc);
      label = &c;
    } else {
      throw data_error("a folder source has no values for '" + c.spec.name + "' (use a csv source)", source.loc);
    }
  }
  if (!image) throw data_error("a folder source needs an image input in the model", source.loc);

  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(source.path))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty())
    throw data_error("no class folders in " + source.path + " (expected root/<class>/<image>)", source.loc);
  if (label && label->spec.width != static_cast<int64_t>(classes.size()))
    throw data_error(source.path + " has " + std::to_string(classes.size()) + " class folders, but the output '" +
                         label->spec.name + "' has " + std::to_string(label->spec.width) + " classes",
                     source.loc);
  for (size_t k = 0; k < classes.size(); ++k) {
    for (auto& f : image_files((fs::path(source.path) / classes[k]).string(), source.extensions, false)) {
      image->paths.push_back(std::move(f));
      if (label) label->labels.push_back(static_cast<int64_t>(k));
    }
  }
  if (label) label->class_names = classes;
  table.rows = static_cast<int64_t>(image->paths.size());
  if (table.rows == 0)
    throw data_error("no images with extensions " + join(source.extensions) + " under " + source.path, source.loc);
  return table;
}

// Which manifest columns feed a model column: a name, or a pattern with * (in file order).
std::vector<size_t> match_columns(const std::string& pattern, const std::vector<std::string>& header) {
  std::vector<size_t> out;
  if (pattern.find('*') == std::string::npos) {
    for (size_t i = 0; i < header.size(); ++i)
      if (header[i] == pattern) out.push_back(i);
    return out;
  }
  std::string re;
  for (char c : pattern)
    re += c == '*' ? std::string(".*")
                   : std::regex_replace(std::string(1, c), std::regex(R"([.^$|()\[\]{}+?\\])"), R"(\$&)");
  std::regex matcher(re);
  for (size_t i = 0; i < header.size(); ++i)
    if (std::regex_match(header[i], matcher)) out.push_back(i);
  return out;
}

Table load_csv(const SplitSpec& split) {
  const SourceSpec& source = split.source;
  std::ifstream in(source.path);
  if (!in) throw data_error("manifest not found: " + source.path, source.loc);
  Table table = empty_table(split);
  table.origin = source.path;
  std::string line;
  if (!std::getline(in, line)) throw data_error(source.path + ":1: the manifest is empty (it needs a header row)");
  std::vector<std::string> header = split_csv_line(line, source.delimiter);
  for (auto& h : header) h = trim(h);

  std::vector<std::vector<size_t>> sources(table.columns.size());
  for (size_t k = 0; k < table.columns.size(); ++k) {
    const ColumnSpec& c = table.columns[k].spec;
    auto it = source.column_map.find(c.name);
    std::string pattern = it == source.column_map.end() ? c.name : it->second;
    sources[k] = match_columns(pattern, header);
    if (sources[k].empty())
      throw data_error(source.path + ":1: no column '" + pattern + "' for '" + c.name + "'" +
                           did_you_mean(pattern, header) + "; columns: " + join(header) +
                           " (map it with source.columns: {" + c.name + ": COLUMN})",
                       source.loc);
    const bool one = sources[k].size() == 1;
    if ((c.kind == ColumnSpec::Kind::Image || c.kind == ColumnSpec::Kind::ClassLabel) && !one)
      throw data_error(source.path + ":1: '" + pattern + "' matches " + std::to_string(sources[k].size()) +
                       " columns; '" + c.name + "' needs one");
    if ((c.kind == ColumnSpec::Kind::Vector || c.kind == ColumnSpec::Kind::Number) && !one &&
        static_cast<int64_t>(sources[k].size()) != c.width)
      throw data_error(source.path + ":1: '" + pattern + "' matches " + std::to_string(sources[k].size()) +
                       " columns, but '" + c.name + "' has " + std::to_string(c.width) + " values");
  }
  for (auto& c : table.columns)
    if (c.spec.kind == ColumnSpec::Kind::ClassLabel) c.class_names.clear();

  const fs::path base = fs::path(source.path).parent_path();
  std::vector<std::map<std::string, int64_t>> class_index(table.columns.size());
  int line_number = 1;
  while (std::getline(in, line)) {
    ++line_number;
    if (trim(line).empty()) continue;
    std::vector<std::string> fields = split_csv_line(line, source.delimiter);
    if (fields.size() != header.size())
      throw data_error(source.path + ":" + std::to_string(line_number) + ": " + std::to_string(fields.size()) +
                       " fields, the header has " + std::to_string(header.size()));
    for (size_t k = 0; k < table.columns.size(); ++k) {
      Column& column = table.columns[k];
      const ColumnSpec& c = column.spec;
      auto where = [&](size_t field) {
        return source.path + ":" + std::to_string(line_number) + ": column '" + header[field] + "': ";
      };
      switch (c.kind) {
        case ColumnSpec::Kind::Image: {
          fs::path p = trim(fields[sources[k][0]]);
          column.paths.push_back((p.is_absolute() ? p : base / p).string());
          break;
        }
        case ColumnSpec::Kind::ClassLabel: {
          std::string label = trim(fields[sources[k][0]]);
          auto& index = class_index[k];
          float number = 0;
          if (parse_float(label, number) && number == static_cast<int64_t>(number) && index.empty() &&
              column.class_names.empty()) {
            if (number < 0 || number >= c.width)
              throw data_error(where(sources[k][0]) + "class index " + label + " is outside 0.." +
                               std::to_string(c.width - 1));
            column.labels.push_back(static_cast<int64_t>(number));
          } else {
            if (!column.labels.empty() && index.empty())
              throw data_error(where(sources[k][0]) + "'" + label + "' is a class name, earlier rows gave indices");
            auto it = index.find(label);
            if (it == index.end()) it = index.emplace(label, static_cast<int64_t>(index.size())).first;
            column.labels.push_back(it->second);
          }
          break;
        }
        case ColumnSpec::Kind::Vector:
        case ColumnSpec::Kind::Number: {
          if (sources[k].size() == 1 && c.width > 1) {  // one field holding the whole vector
            std::vector<std::string> parts;
            for (auto& part : dltrain::split(trim(fields[sources[k][0]]),
                                             fields[sources[k][0]].find(';') != std::string::npos ? ';' : ' '))
              if (!trim(part).empty()) parts.push_back(part);
            if (static_cast<int64_t>(parts.size()) != c.width)
              throw data_error(where(sources[k][0]) + std::to_string(parts.size()) + " values, '" + c.name +
                               "' needs " + std::to_string(c.width));
            for (const auto& part : parts) {
              float v = 0;
              if (!parse_float(part, v)) throw data_error(where(sources[k][0]) + "'" + part + "' is not a number");
              column.values.push_back(v);
            }
          } else {
            for (size_t field : sources[k]) {
              float v = 0;
              if (!parse_float(fields[field], v))
                throw data_error(where(field) + "'" + fields[field] + "' is not a number");
              column.values.push_back(v);
            }
          }
          break;
        }
      }
    }
    ++table.rows;
  }
  // Class names are sorted, as for folders, so indices do not depend on row order.
  for (size_t k = 0; k < table.columns.size(); ++k) {
    Column& column = table.columns[k];
    if (class_index[k].empty()) continue;
    std::vector<std::string> names;
    for (const auto& [name, i] : class_index[k]) names.push_back(name);
    std::sort(names.begin(), names.end());
    if (static_cast<int64_t>(names.size()) > column.spec.width)
      throw data_error(source.path + ": column for '" + column.spec.name + "' has " + std::to_string(names.size()) +
                       " classes, the output has " + std::to_string(column.spec.width));
    std::vector<int64_t> remap(names.size());
    for (size_t i = 0; i < names.size(); ++i)
      remap[static_cast<size_t>(class_index[k][names[i]])] = static_cast<int64_t>(i);
    for (auto& l : column.labels) l = remap[static_cast<size_t>(l)];
    column.class_names = names;
  }
  if (table.rows == 0) throw data_error(source.path + ": the manifest has no rows");
  return table;
}

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

// split_of over a tar source, refused: its rows are not in memory to carve.
Error tar_carving(const std::string& split, const SourceLoc& loc) {
  return Error("split_of cannot carve samples out of a tar source (they stream from the shards); give '" + split +
                   "' shards of its own (dltrain pack a separate folder)",
               loc);
}

}  // namespace

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
  switch (split.source.kind) {
    case SourceSpec::Kind::Folder:
      return load_folder(split);
    case SourceSpec::Kind::Csv:
      return load_csv(split);
    case SourceSpec::Kind::Synthetic:
      return load_synthetic(split);
    case SourceSpec::Kind::Tar:
      return load_tar(split);
    case SourceSpec::Kind::SplitOf:
      break;
  }
  DLT_ASSERT(false, "split_of sources are resolved by split_rows");
  return {};
}

Table load_split_table(const DataSpec& data, const std::string& name, uint64_t seed) {
  const SplitSpec* split = data.find(name);
  if (!split) {
    std::vector<std::string> names;
    for (const auto& [n, s] : data.splits) names.push_back(n);
    throw Error("the spec has no data split '" + name + "'" + did_you_mean(name, names) +
                (names.empty() ? std::string("; add a `data:` section") : "; splits: " + join(names)));
  }
  if (split->source.kind == SourceSpec::Kind::SplitOf) {
    const SplitSpec& parent = data.splits.at(split->source.split_of);
    if (parent.source.kind == SourceSpec::Kind::Tar) throw tar_carving(name, split->source.loc);
    Table whole = load_table(parent);
    return split_rows(whole, split->source.fraction, seed).second;
  }
  Table table = load_table(*split);
  for (const auto& [other, s] : data.splits)  // a split carved out of this one takes its rows away
    if (s.source.kind == SourceSpec::Kind::SplitOf && s.source.split_of == name) {
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
