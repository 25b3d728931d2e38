#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <iomanip>
#include <sstream>

#include "builder/weights.h"
#include "io/safetensors.h"
#include "util/strings.h"

namespace dltrain::train {

namespace fs = std::filesystem;

std::string resolve_checkpoint(const std::string& path) {
  if (fs::is_directory(path)) {
    fs::path last = fs::path(path) / "checkpoints" / "last.safetensors";
    if (!fs::exists(last))
      throw Error(path + " holds no checkpoint (" + last.string() + " is missing)", std::nullopt, {}, ErrorKind::Runtime);
    return last.string();
  }
  if (!fs::exists(path)) throw Error("checkpoint not found: " + path, std::nullopt, {}, ErrorKind::Runtime);
  return path;
}

void load_weights(builder::DagModel& model, const std::string& path) {
  io::TensorFile file = io::read_safetensors(path);
  // The trainer's own state (optimizer, RNG, meters) lives under dltrain/ beside the weights.
  file.tensors.erase(std::remove_if(file.tensors.begin(), file.tensors.end(),
                                    [](const auto& t) { return starts_with(t.first, "dltrain/"); }),
                     file.tensors.end());
  builder::WeightReport report = builder::assign_weights(model, "", file);
  if (!report.missing.empty() || !report.mismatched.empty() || !report.unexpected.empty())
    throw Error(path + " does not fit this model: " + report.describe(), std::nullopt, {}, ErrorKind::Runtime);
}

// FNV-1a: stable across builds and platforms, unlike std::hash.
std::string spec_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << h;
  return out.str();
}

std::string spec_diff(const std::string& before, const std::string& after) {
  auto a = split(before, '\n'), b = split(after, '\n');
  std::vector<std::vector<int>> lcs(a.size() + 1, std::vector<int>(b.size() + 1, 0));
  for (size_t i = a.size(); i-- > 0;)
    for (size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::string out;
  size_t i = 0, j = 0, shown = 0;
  while ((i < a.size() || j < b.size()) && shown < 40) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) ++i, ++j;
    else if (j < b.size() && (i == a.size() || lcs[i][j + 1] >= lcs[i + 1][j])) out += "\n  + " + b[j++], ++shown;
    else out += "\n  - " + a[i++], ++shown;
  }
  return out;
}

}  // namespace dltrain::train
