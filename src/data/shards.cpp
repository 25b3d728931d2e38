#include "data/shards.h"

#if DLTRAIN_WITH_ARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif
#include <fnmatch.h>
#include <glob.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/source_kinds.h"
#include "io/atomic_file.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr const char* kIndexName = "index.json";
// Far more shards than any dataset has; beyond it a typo in a range (`{0..99999999}`).
constexpr int64_t kMaxShards = 1'000'000;

// Brace expansion, left to right: `a{1..3}b` -> a1b a2b a3b, `{x,y}` -> x y.
void expand_braces(const std::string& pattern, std::vector<std::string>& out, const SourceLoc& loc) {
  const size_t open = pattern.find('{');
  if (open == std::string::npos) {
    out.push_back(pattern);
    return;
  }
  const size_t close = pattern.find('}', open);
  if (close == std::string::npos) throw Error("'" + pattern + "': a '{' without its '}'", loc);
  const std::string inside = pattern.substr(open + 1, close - open - 1);
  const std::string head = pattern.substr(0, open), tail = pattern.substr(close + 1);
  std::vector<std::string> choices;
  if (const size_t dots = inside.find(".."); dots != std::string::npos) {
    const std::string first = inside.substr(0, dots), last = inside.substr(dots + 2);
    auto digits = [](const std::string& s) {
      return !s.empty() && s.size() <= 18 &&
             std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    if (!digits(first) || !digits(last))
      throw Error("'" + pattern + "': a range is {FIRST..LAST} with whole numbers, as in {000000..000127}", loc);
    const int64_t from = std::stoll(first), to = std::stoll(last);
    if (to < from) throw Error("'" + pattern + "': the range " + inside + " runs backwards", loc);
    if (to - from >= kMaxShards)
      throw Error(
          "'" + pattern + "': the range " + inside + " names more than " + std::to_string(kMaxShards) + " shards", loc);
    const size_t width = first.size() > 1 && first[0] == '0' ? first.size() : 0;  // zero padding, as written
    for (int64_t n = from; n <= to; ++n) {
      std::string number = std::to_string(n);
      if (number.size() < width) number.insert(0, width - number.size(), '0');
      choices.push_back(number);
    }
  } else {
    choices = split(inside, ',');
  }
  for (const auto& choice : choices) {
    expand_braces(head + choice + tail, out, loc);
    if (out.size() > static_cast<size_t>(kMaxShards))
      throw Error("'" + pattern + "' names more than " + std::to_string(kMaxShards) + " shards", loc);
  }
}

#if DLTRAIN_WITH_ARCHIVE
// The key and suffix of a member path (WebDataset's rule: the key ends at the first dot of the
// file name). False for names without one, which belong to no sample.
bool split_member_name(const std::string& path, std::string& key, std::string& suffix) {
  const size_t slash = path.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const size_t dot = path.find('.', base);
  if (dot == std::string::npos || dot == base) return false;
  key = path.substr(0, dot);
  suffix = path.substr(dot + 1);
  return !suffix.empty();
}

// A shard opened for sequential reading through libarchive: tar in any of its dialects, plain or
// compressed with gzip, bzip2, xz or zstd. Errors name the shard and the last member read.
class TarReader {
 public:
  explicit TarReader(std::string path) : path_(std::move(path)), archive_(archive_read_new()) {
    archive_read_support_format_tar(archive_);
    archive_read_support_filter_gzip(archive_);
    archive_read_support_filter_bzip2(archive_);
    archive_read_support_filter_xz(archive_);
    archive_read_support_filter_zstd(archive_);
    if (archive_read_open_filename(archive_, path_.c_str(), 1 << 20) != ARCHIVE_OK) {
      const int code = archive_errno(archive_);
      archive_read_free(archive_);
      if (code == EILSEQ || code <= 0)  // libarchive's "file format" and "misc" errors
        throw data_error(path_ + ": not a tar shard, or damaged at its start");
      throw data_error(path_ + ": cannot open the shard (" + std::error_code(code, std::generic_category()).message() +
                       ")");
    }
  }
  ~TarReader() { archive_read_free(archive_); }
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // Moves to the next member that belongs to a sample; false at the end of the shard.
  bool next(std::string& key, std::string& suffix) {
    while (true) {
      archive_entry* entry = nullptr;
      const int status = archive_read_next_header(archive_, &entry);
      if (status == ARCHIVE_EOF) return false;
      if (status < ARCHIVE_WARN) fail();
      const char* name = archive_entry_pathname(entry);
      if (archive_entry_filetype(entry) != AE_IFREG || !name) continue;
      last_ = name;
      size_ = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
      if (split_member_name(last_, key, suffix)) return true;
    }
  }
  // The member's bytes, read straight into `out` (sized from the header when it has one).
  void read_data(std::string& out) {
    out.resize(size_ > 0 ? static_cast<size_t>(size_) : 1 << 16);
    size_t filled = 0;
    while (true) {
      if (filled == out.size()) out.resize(2 * out.size());
      const la_ssize_t n = archive_read_data(archive_, out.data() + filled, out.size() - filled);
      if (n < 0) fail();
      if (n == 0) break;
      filled += static_cast<size_t>(n);
    }
    out.resize(filled);
  }
  void skip_data() {
    if (archive_read_data_skip(archive_) < ARCHIVE_WARN) fail();
  }
  const std::string& path() const { return path_; }

 private:
  [[noreturn]] void fail() const {
    if (last_.empty()) throw data_error(path_ + ": not a tar shard, or damaged at its start");
    throw data_error(path_ + ": the shard is truncated or damaged at member " + last_);
  }

  std::string path_;
  archive* archive_;
  std::string last_;
  la_int64_t size_ = -1;  // the current member's, from its header
};
#else
// A build without libarchive: opening a shard says so.
class TarReader {
 public:
  explicit TarReader(const std::string&) { require_libarchive(); }
  bool next(std::string&, std::string&) { return false; }
  void read_data(std::string&) {}
  void skip_data() {}
};
#endif

// Samples in a shard, by reading its headers (the members' data are skipped).
int64_t count_samples(const std::string& path) {
  TarReader reader(path);
  std::string key, suffix, previous;
  int64_t samples = 0;
  while (reader.next(key, suffix)) {
    if (samples == 0 || key != previous) ++samples;
    previous = key;
    reader.skip_data();
  }
  return samples;
}

// The first sample of a shard, read whole.
TarSample first_sample(const std::string& path) {
  TarReader reader(path);
  TarSample sample;
  sample.shard = path;
  std::string key, suffix;
  while (reader.next(key, suffix)) {
    if (!sample.members.empty() && key != sample.key) break;
    sample.key = key;
    sample.members.emplace_back(suffix, std::string());
    reader.read_data(sample.members.back().second);
  }
  return sample;
}

ShardIndex read_shard_index(const std::string& path) {
  std::ifstream in(path);
  const json doc = json::parse(in, nullptr, false);
  const std::string damaged = path + " is not a shard index of dltrain pack (delete it, and the shards are counted)";
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("shards") || !doc["shards"].is_array())
    throw data_error(damaged);
  ShardIndex index;
  for (const auto& shard : doc["shards"]) {
    if (!shard.is_object() || !shard.contains("file") || !shard["file"].is_string() || !shard.contains("samples") ||
        !shard["samples"].is_number_unsigned() || !shard.contains("bytes") || !shard["bytes"].is_number_unsigned())
      throw data_error(damaged);
    index.shards.push_back(
        {shard["file"].get<std::string>(), shard["samples"].get<int64_t>(), shard["bytes"].get<int64_t>()});
  }
  if (doc.contains("classes") && doc["classes"].is_object())
    for (const auto& [member, names] : doc["classes"].items()) {
      if (!names.is_array()) throw data_error(damaged);
      for (const auto& name : names) {
        if (!name.is_string()) throw data_error(damaged);
        index.classes[member].push_back(name.get<std::string>());
      }
    }
  return index;
}

// The json member's field `field`, or a null json when there is none.
json json_field(const TarSample& sample, const std::string& field, std::string& failure) {
  const std::string* text = sample.member("json");
  if (!text) {
    failure = sample.name() + ": no json member (for field '" + field + "')";
    return json();
  }
  const json doc = json::parse(*text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    failure = sample.name() + ".json: not a JSON object";
    return json();
  }
  if (!doc.contains(field)) {
    failure = sample.name() + ".json: no field '" + field + "'";
    return json();
  }
  return doc[field];
}

// The member for a column that source.columns does not map, chosen from the first sample.
std::string default_member(const Column& column, const Table& table, const TarSample& first) {
  const ColumnSpec& c = column.spec;
  auto count = [&](ColumnSpec::Kind kind) {
    return std::count_if(table.columns.begin(), table.columns.end(),
                         [&](const Column& k) { return k.spec.kind == kind; });
  };
  switch (c.kind) {
    case ColumnSpec::Kind::Image:
      if (count(ColumnSpec::Kind::Image) == 1 && first.member("")) return "";
      return c.name + ".*";
    case ColumnSpec::Kind::ClassLabel:
      if (count(ColumnSpec::Kind::ClassLabel) == 1 && first.member("cls")) return "cls";
      [[fallthrough]];
    default:
      return first.member(c.name) ? c.name : "json." + c.name;  // the caller reports a missing one
  }
}

// Whether the first sample has what `member` names (a json field counts when its json has it).
bool sample_has(const TarSample& sample, const std::string& member) {
  if (starts_with(member, "json.") && !sample.member(member)) {
    std::string ignored;
    return !json_field(sample, member.substr(5), ignored).is_null();
  }
  return sample.member(member) != nullptr;
}

}  // namespace

void require_libarchive() {
#if !DLTRAIN_WITH_ARCHIVE
  throw Error::runtime(
      "this dltrain was built without libarchive, which tar shards need (apt-get install libarchive-dev, and rebuild)");
#endif
}

std::vector<std::string> expand_shard_patterns(const std::vector<std::string>& patterns, const SourceLoc& loc) {
  std::vector<std::string> out;
  for (const auto& pattern : patterns) {
    std::vector<std::string> names;
    expand_braces(pattern, names, loc);
    for (const auto& name : names) {
      if (name.find_first_of("*?[") == std::string::npos) {
        if (!fs::is_regular_file(name)) throw data_error("no shard " + name, loc);
        out.push_back(name);
        continue;
      }
      glob_t found{};
      const int status = glob(name.c_str(), 0, nullptr, &found);
      std::vector<std::string> matches(found.gl_pathv, found.gl_pathv + (status == 0 ? found.gl_pathc : 0));
      globfree(&found);
      if (matches.empty()) throw data_error("no shard matches " + name, loc);
      out.insert(out.end(), matches.begin(), matches.end());  // glob sorts them
    }
  }
  return out;
}

Table load_tar(const SplitSpec& split) {
  const SourceSpec& source = split.source;
  if (split.shuffle_buffer == INT64_MAX)
    throw Error(
        "a tar source shuffles through a buffer of encoded samples held in memory: give `shuffle` a size "
        "(shuffle: 10000) rather than true",
        split.loc);
  Table table;
  for (const auto& c : split.columns) table.columns.push_back(Column{c, {}, {}, {}, {}, {}});
  table.origin = join(source.shard_patterns);

  std::map<std::string, ShardIndex> indexes;  // by folder
  std::map<std::string, std::vector<std::string>> classes;
  for (const auto& path : expand_shard_patterns(source.shard_patterns, source.loc)) {
    const fs::path folder = fs::path(path).parent_path();
    auto found = indexes.find(folder.string());
    if (found == indexes.end()) {
      const fs::path index_path = folder / kIndexName;
      found =
          indexes
              .emplace(folder.string(), fs::exists(index_path) ? read_shard_index(index_path.string()) : ShardIndex{})
              .first;
      for (const auto& [member, names] : found->second.classes) classes.emplace(member, names);
    }
    Shard shard{path, 0, static_cast<int64_t>(fs::file_size(path))};
    const std::string file = fs::path(path).filename().string();
    const auto& listed = found->second.shards;
    auto entry = std::find_if(listed.begin(), listed.end(), [&](const Shard& s) { return s.path == file; });
    shard.samples = entry != listed.end() && entry->bytes == shard.bytes ? entry->samples : count_samples(path);
    table.rows += shard.samples;
    table.shards.push_back(shard);
  }
  if (table.rows == 0) throw data_error("the shards " + table.origin + " hold no samples", source.loc);

  const auto first =
      std::find_if(table.shards.begin(), table.shards.end(), [](const Shard& s) { return s.samples > 0; });
  const TarSample sample = first_sample(first->path);
  std::vector<std::string> present;
  for (const auto& [suffix, bytes] : sample.members) present.push_back(suffix);
  for (auto& column : table.columns) {
    const auto mapped = source.column_map.find(column.spec.name);
    column.member = mapped != source.column_map.end() ? mapped->second : default_member(column, table, sample);
    if (!sample_has(sample, column.member))
      throw data_error(sample.name() + " (the first sample) has the members " + join(present) + ", none for '" +
                           column.spec.name + "'" +
                           (column.member.empty() ? std::string(" (no image member)") : " ('" + column.member + "')") +
                           did_you_mean(column.member, present) + "; map it with source.columns: {" + column.spec.name +
                           ": MEMBER} (a member suffix, a glob, or json.FIELD)",
                       source.loc);
    if (column.spec.kind == ColumnSpec::Kind::ClassLabel) {
      auto names = classes.find(column.member);
      if (names != classes.end()) {
        if (static_cast<int64_t>(names->second.size()) != column.spec.width)
          throw data_error(table.origin + ": the shards' index names " + std::to_string(names->second.size()) +
                               " classes for '" + column.member + "', but the output '" + column.spec.name + "' has " +
                               std::to_string(column.spec.width),
                           source.loc);
        column.class_names = names->second;
      }
    }
  }
  return table;
}

void write_shard_index(const std::string& path, const ShardIndex& index) {
  json doc = {{"format", "dltrain shards"}, {"version", 1}, {"shards", json::array()}};
  int64_t samples = 0;
  for (const auto& shard : index.shards) {
    doc["shards"].push_back({{"file", shard.path}, {"samples", shard.samples}, {"bytes", shard.bytes}});
    samples += shard.samples;
  }
  doc["samples"] = samples;
  doc["classes"] = json::object();
  for (const auto& [member, names] : index.classes) doc["classes"][member] = names;
  const std::string text = doc.dump(1) + "\n";
  io::AtomicFile file(path);
  file.write(text.data(), text.size());
  file.commit();
}

const std::string* TarSample::member(const std::string& pattern) const {
  for (const auto& [suffix, bytes] : members) {
    const bool match = pattern.empty() ? has_image_extension("member." + suffix)
                       : pattern.find_first_of("*?[") != std::string::npos
                           ? fnmatch(pattern.c_str(), suffix.c_str(), 0) == 0
                           : suffix == pattern;
    if (match) return &bytes;
  }
  return nullptr;
}

bool read_tar_value(const TarSample& sample, const Column& column, int64_t* label, float* values,
                    std::string& failure) {
  const ColumnSpec& c = column.spec;
  json value;
  const std::string* text = sample.member(column.member);
  if (text) {
    value = trim(*text);
  } else if (starts_with(column.member, "json.")) {
    value = json_field(sample, column.member.substr(5), failure);
    if (value.is_null()) return false;
  } else {
    failure = sample.name() + ": no member '" + column.member + "' for '" + c.name + "'";
    return false;
  }
  const std::string where = sample.name() + "." + column.member + ": ";
  if (c.kind == ColumnSpec::Kind::ClassLabel) {
    float number = 0;
    if (value.is_number_integer() || (value.is_string() && parse_float(value.get<std::string>(), number) &&
                                      number == static_cast<float>(static_cast<int64_t>(number)))) {
      const int64_t index = value.is_number_integer() ? value.get<int64_t>() : static_cast<int64_t>(number);
      if (index < 0 || index >= c.width) {
        failure = where + "class index " + std::to_string(index) + " is outside 0.." + std::to_string(c.width - 1);
        return false;
      }
      *label = index;
      return true;
    }
    if (value.is_string()) {
      const auto& names = column.class_names;
      const auto it = std::find(names.begin(), names.end(), value.get<std::string>());
      if (it != names.end()) {
        *label = it - names.begin();
        return true;
      }
    }
    failure = where + "'" + (value.is_string() ? value.get<std::string>() : value.dump()) +
              "' is neither a class index nor a class name of the shards' index";
    return false;
  }
  std::vector<float> numbers;
  if (value.is_number()) {
    numbers.push_back(value.get<float>());
  } else if (value.is_array()) {
    for (const auto& item : value) {
      if (!item.is_number()) break;
      numbers.push_back(item.get<float>());
    }
    if (numbers.size() != value.size()) numbers.clear();
  } else if (value.is_string()) {
    std::string words = value.get<std::string>();
    std::replace(words.begin(), words.end(), ',', ' ');
    std::istringstream in(words);
    std::string word;
    float number = 0;
    while (in >> word) {
      if (!parse_float(word, number)) {
        numbers.clear();
        break;
      }
      numbers.push_back(number);
    }
  }
  if (static_cast<int64_t>(numbers.size()) != c.width) {
    failure = where + (numbers.empty() ? std::string("not numbers") : std::to_string(numbers.size()) + " numbers") +
              ", '" + c.name + "' needs " + std::to_string(c.width);
    return false;
  }
  std::copy(numbers.begin(), numbers.end(), values);
  return true;
}

ShardStream::ShardStream(std::vector<StreamSegment> segments, std::vector<char> wanted)
    : segments_(std::move(segments)), wanted_(std::move(wanted)) {
  thread_ = std::thread([this] { read(); });
}

ShardStream::~ShardStream() { stop(); }

void ShardStream::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ShardStream::allow(int64_t end) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (end <= allowed_) return;
    allowed_ = end;
  }
  cv_.notify_all();
}

bool ShardStream::take(int64_t p, TarSample& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return stopping_ || ready_.count(p) || (error_ && read_ <= p); });
  if (auto it = ready_.find(p); it != ready_.end()) {
    out = std::move(it->second);
    ready_.erase(it);
    return true;
  }
  if (stopping_) return false;
  std::rethrow_exception(error_);
}

void ShardStream::keep(int64_t position, TarSample&& sample) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (wanted_[static_cast<size_t>(position)]) ready_.emplace(position, std::move(sample));
  read_ = position + 1;
  lock.unlock();
  cv_.notify_all();
}

void ShardStream::read() {
  int64_t position = 0;
  try {
    for (const StreamSegment& segment : segments_) {
      TarReader reader(segment.shard.path);
      std::string key, suffix;
      bool pending = reader.next(key, suffix);  // a member read ahead, not yet placed in a sample
      int64_t index = 0;                        // samples of this shard met so far
      auto short_shard = [&] {
        return data_error(segment.shard.path + ": the shard ends after " + std::to_string(index) +
                          " samples, its index or count says " + std::to_string(segment.shard.samples) +
                          " (rewrite its index with dltrain pack, or delete index.json)");
      };
      for (; index < segment.skip; ++index) {  // another rank's samples, or ones already trained on
        if (!pending) throw short_shard();
        const std::string current = key;
        while (pending && key == current) {
          reader.skip_data();
          pending = reader.next(key, suffix);
        }
      }
      for (int64_t taken = 0; taken < segment.take; ++taken, ++index, ++position) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          cv_.wait(lock, [&] { return stopping_ || position < allowed_; });
          if (stopping_) return;
        }
        if (!pending) throw short_shard();
        TarSample sample;
        sample.shard = segment.shard.path;
        sample.key = key;
        const bool wanted = wanted_[static_cast<size_t>(position)];
        while (pending && key == sample.key) {
          if (wanted) {
            sample.members.emplace_back(suffix, std::string());
            reader.read_data(sample.members.back().second);
          } else {
            reader.skip_data();
          }
          pending = reader.next(key, suffix);
        }
        keep(position, std::move(sample));
      }
      if (segment.skip + segment.take == segment.shard.samples && pending)
        throw data_error(segment.shard.path + ": the shard holds more samples than its index says (" +
                         std::to_string(segment.shard.samples) +
                         "; rewrite its index with dltrain pack, or delete index.json)");
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
    read_ = position;
  }
  cv_.notify_all();
}

void register_tar_source(SourceRegistry& registry) {
  registry.add(
      {"tar",
       "WebDataset tar shards, read in sequence: a sample per member key (`{000000..000127}` ranges, globs, lists)",
       [](spec::ParamReader& p, SourceSpec& source) {
         source.shard_patterns = p.get_paths("tar");
         read_column_map(p, source);
       },
       load_tar});
}

}  // namespace dltrain::data
