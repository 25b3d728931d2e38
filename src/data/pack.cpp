#include "data/pack.h"

#if DLTRAIN_WITH_ARCHIVE
#include <archive.h>
#include <archive_entry.h>
#endif

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <regex>
#include <set>

#include "data/shards.h"
#include "io/atomic_file.h"
#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

Error pack_error(const std::string& message) { return Error::runtime(message); }

// A sample before packing: files whose bytes become members, and members given as text.
struct PackSample {
  std::vector<std::pair<std::string, std::string>> files;  // suffix -> path
  std::vector<std::pair<std::string, std::string>> texts;  // suffix -> content
};

struct Dataset {
  std::vector<PackSample> samples;
  std::map<std::string, std::vector<std::string>> classes;
};

Dataset read_folder(const std::string& root) {
  Dataset data;
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(root))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) throw pack_error("no class folders in " + root + " (expected root/<class>/<image>)");
  for (size_t k = 0; k < classes.size(); ++k)
    for (auto& file : image_files((fs::path(root) / classes[k]).string(), default_image_extensions(), false)) {
      const std::string suffix = lower_extension(file).substr(1);
      data.samples.push_back({{{suffix, std::move(file)}}, {{"cls", std::to_string(k)}}});
    }
  data.classes["cls"] = classes;
  return data;
}

Dataset read_manifest(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw pack_error("manifest not found: " + path);
  const char delimiter = fs::path(path).extension() == ".tsv" ? '\t' : ',';
  std::string line;
  if (!std::getline(in, line)) throw pack_error(path + ":1: the manifest is empty (it needs a header row)");
  std::vector<std::string> header = split_csv_line(line, delimiter);
  for (auto& h : header) h = trim(h);
  std::vector<std::vector<std::string>> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (trim(line).empty()) continue;
    rows.push_back(split_csv_line(line, delimiter));
    for (auto& field : rows.back()) field = trim(field);
    if (rows.back().size() != header.size())
      throw pack_error(path + ":" + std::to_string(number) + ": " + std::to_string(rows.back().size()) +
                       " fields, the header has " + std::to_string(header.size()));
  }
  if (rows.empty()) throw pack_error(path + ": the manifest has no rows");

  // Columns of image paths (every value has an image extension), numbers, and names.
  std::vector<size_t> images;
  std::vector<char> numeric(header.size(), 1);
  for (size_t c = 0; c < header.size(); ++c) {
    bool all_images = true;
    for (const auto& row : rows) {
      all_images = all_images && has_image_extension(row[c]);
      char* end = nullptr;
      std::strtod(row[c].c_str(), &end);
      numeric[c] = numeric[c] && !row[c].empty() && *end == '\0';
    }
    if (all_images) images.push_back(c);
  }
  if (images.empty()) throw pack_error(path + ": no column holds image paths (" + join(header) + ")");
  Dataset data;
  const fs::path base = fs::path(path).parent_path();
  for (size_t c = 0; c < header.size(); ++c) {
    if (numeric[c] || std::find(images.begin(), images.end(), c) != images.end()) continue;
    std::set<std::string> names;
    for (const auto& row : rows) names.insert(row[c]);
    data.classes["json." + header[c]] = std::vector<std::string>(names.begin(), names.end());
  }
  for (const auto& row : rows) {
    PackSample sample;
    json fields = json::object();
    for (size_t c = 0; c < header.size(); ++c) {
      if (std::find(images.begin(), images.end(), c) != images.end()) {
        const fs::path file = fs::path(row[c]).is_absolute() ? fs::path(row[c]) : base / row[c];
        const std::string ext = lower_extension(file.string()).substr(1);
        sample.files.emplace_back(images.size() == 1 ? ext : header[c] + "." + ext, file.string());
      } else if (numeric[c]) {
        const double number = std::strtod(row[c].c_str(), nullptr);
        fields[header[c]] =
            number == static_cast<double>(static_cast<int64_t>(number)) && row[c].find('.') == std::string::npos
                ? json(static_cast<int64_t>(number))
                : json(number);
      } else {
        fields[header[c]] = row[c];
      }
    }
    if (!fields.empty()) sample.texts.emplace_back("json", fields.dump());
    data.samples.push_back(std::move(sample));
  }
  return data;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pack_error(path + ": cannot read the file");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

#if DLTRAIN_WITH_ARCHIVE
// One shard being written: a pax tar stream through libarchive into an AtomicFile.
class ShardWriter {
 public:
  explicit ShardWriter(std::string path) : path_(std::move(path)), file_(path_), archive_(archive_write_new()) {
    archive_write_set_format_pax_restricted(archive_);  // plain ustar headers unless a name needs more
    if (archive_write_open2(archive_, this, nullptr, &ShardWriter::write_block, nullptr, nullptr) != ARCHIVE_OK) fail();
  }
  ~ShardWriter() { archive_write_free(archive_); }
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add(const std::string& name, const std::string& bytes) {
    archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    const bool ok = archive_write_header(archive_, entry) == ARCHIVE_OK &&
                    archive_write_data(archive_, bytes.data(), bytes.size()) == static_cast<la_ssize_t>(bytes.size());
    archive_entry_free(entry);
    if (!ok) fail();
    bytes_ += 512 + (static_cast<int64_t>(bytes.size()) + 511) / 512 * 512;
  }
  int64_t bytes() const { return bytes_; }
  void finish() {
    if (archive_write_close(archive_) != ARCHIVE_OK) fail();
    file_.commit();
  }

 private:
  static la_ssize_t write_block(archive* a, void* self, const void* buffer, size_t size) {
    auto* writer = static_cast<ShardWriter*>(self);
    try {
      writer->file_.write(buffer, size);
      return static_cast<la_ssize_t>(size);
    } catch (const Error& e) {
      writer->failure_ = e.message();
      archive_set_error(a, EIO, "write failed");
      return -1;
    }
  }
  [[noreturn]] void fail() const {
    throw pack_error(failure_.empty() ? path_ + ": could not write the shard" : failure_);
  }

  std::string path_;
  io::AtomicFile file_;
  archive* archive_;
  int64_t bytes_ = 0;
  std::string failure_;
};
#else
class ShardWriter {  // a build without libarchive: pack says so before writing anything
 public:
  explicit ShardWriter(const std::string&) { require_libarchive(); }
  void add(const std::string&, const std::string&) {}
  int64_t bytes() const { return 0; }
  void finish() {}
};
#endif

// The shards and index an earlier pack with this prefix left in `folder`.
std::vector<fs::path> earlier_pack(const fs::path& folder, const std::string& prefix) {
  std::vector<fs::path> found;
  if (!fs::is_directory(folder)) return found;
  const std::regex shard(std::regex_replace(prefix, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") + "-[0-9]+\\.tar");
  for (const auto& entry : fs::directory_iterator(folder))
    if (std::regex_match(entry.path().filename().string(), shard)) found.push_back(entry.path());
  if (fs::exists(folder / "index.json")) found.push_back(folder / "index.json");
  return found;
}

}  // namespace

PackReport pack_dataset(const PackOptions& options, const std::function<void(const Shard&)>& on_shard) {
  require_libarchive();
  const fs::path input(options.input);
  if (!fs::exists(input)) throw pack_error("no such folder or manifest: " + options.input);
  const std::string ext = lower_extension(options.input);
  Dataset data = fs::is_directory(input) ? read_folder(options.input)
                 : ext == ".csv" || ext == ".tsv"
                     ? read_manifest(options.input)
                     : throw pack_error(options.input + ": pack reads an image folder or a .csv/.tsv manifest");
  if (data.samples.empty()) throw pack_error("no images under " + options.input);
  if (options.shard_bytes < 1) throw pack_error("the shard size must be positive");

  const fs::path folder(options.output);
  const std::string prefix = options.prefix.empty()
                                 ? fs::absolute(input).lexically_normal().filename().replace_extension().string()
                                 : options.prefix;
  const std::vector<fs::path> earlier = earlier_pack(folder, prefix);
  if (!earlier.empty() && !options.overwrite)
    throw pack_error(options.output + " already holds a pack (" + earlier.front().filename().string() +
                     "); pass --overwrite to replace it");
  std::error_code failed;
  fs::create_directories(folder, failed);
  if (failed) throw pack_error(options.output + ": cannot create the folder (" + failed.message() + ")");

  std::vector<size_t> order(data.samples.size());
  std::iota(order.begin(), order.end(), size_t{0});
  if (options.shuffle) {
    std::mt19937_64 rng(options.seed);
    std::shuffle(order.begin(), order.end(), rng);
  }
  const int digits = std::max<int>(6, static_cast<int>(std::to_string(order.size() - 1).size()));
  auto numbered = [](int64_t n, int width) {
    std::string text = std::to_string(n);
    return std::string(static_cast<size_t>(std::max<int>(0, width - static_cast<int>(text.size()))), '0') + text;
  };

  PackReport report;
  ShardIndex index;
  index.classes = data.classes;
  std::unique_ptr<ShardWriter> writer;
  Shard current;
  auto close_shard = [&] {
    writer->finish();
    writer.reset();
    current.bytes = static_cast<int64_t>(fs::file_size(current.path));
    report.bytes += current.bytes;
    report.shards.push_back(current);
    index.shards.push_back({fs::path(current.path).filename().string(), current.samples, current.bytes});
    if (on_shard) on_shard(current);
  };
  std::vector<std::pair<std::string, std::string>> members;
  for (size_t n = 0; n < order.size(); ++n) {
    const PackSample& sample = data.samples[order[n]];
    members.clear();
    int64_t size = 0;
    for (const auto& [suffix, path] : sample.files) members.emplace_back(suffix, read_bytes(path));
    for (const auto& [suffix, text] : sample.texts) members.emplace_back(suffix, text);
    for (const auto& [suffix, bytes] : members) size += 512 + static_cast<int64_t>(bytes.size());
    if (writer && current.samples > 0 && writer->bytes() + size > options.shard_bytes) close_shard();
    if (!writer) {
      current = {(folder / (prefix + "-" + numbered(static_cast<int64_t>(report.shards.size()), 6) + ".tar")).string(),
                 0, 0};
      writer = std::make_unique<ShardWriter>(current.path);
    }
    const std::string key = numbered(static_cast<int64_t>(n), digits);
    for (const auto& [suffix, bytes] : members) writer->add(key + "." + suffix, bytes);
    ++current.samples;
    ++report.samples;
  }
  close_shard();
  // Shards of the earlier pack beyond this one's are no longer part of it.
  for (const auto& path : earlier) {
    const std::string file = path.filename().string();
    const bool kept =
        std::any_of(index.shards.begin(), index.shards.end(), [&](const Shard& s) { return s.path == file; });
    if (!kept && file != "index.json") fs::remove(path, failed);
  }
  write_shard_index((folder / "index.json").string(), index);
  return report;
}

}  // namespace dltrain::data
