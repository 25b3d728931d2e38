// The `csv` source: a CSV or TSV manifest, a column (or a pattern of columns) per model input
// and target.
#include "data/source_kinds.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>

#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

void register_csv_source(SourceRegistry& registry) {
  registry.add({"csv", "a CSV or TSV manifest: a column per input (image paths, numbers) and per target",
                [](spec::ParamReader& p, SourceSpec& source) {
                  source.path = p.get_path("csv");
                  std::string delimiter =
                      p.get_or<std::string>("delimiter", fs::path(source.path).extension() == ".tsv" ? "\t" : ",");
                  if (delimiter.size() != 1) throw Error("delimiter must be one character", p.loc_of("delimiter"));
                  source.delimiter = delimiter[0];
                  read_column_map(p, source);
                },
                load_csv});
}

}  // namespace dltrain::data
