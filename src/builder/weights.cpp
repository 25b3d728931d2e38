#include "builder/weights.h"

#include <map>
#include <set>

#include "io/torch_save.h"
#include "util/strings.h"

namespace dltrain::builder {
namespace {

std::string mapped_name(std::string name, const spec::WeightsSpec& mapping) {
  if (!mapping.strip_prefix.empty() && starts_with(name, mapping.strip_prefix))
    name = name.substr(mapping.strip_prefix.size());
  for (const auto& [from, to] : mapping.rename)
    if (starts_with(name, from)) return to + name.substr(from.size());
  return name;
}

std::string shortened(const std::vector<std::string>& names) {
  const size_t shown = 12;
  if (names.size() <= shown) return join(names);
  return join(std::vector<std::string>(names.begin(), names.begin() + shown)) + " and " +
         std::to_string(names.size() - shown) + " more";
}

}  // namespace

std::string WeightReport::describe() const {
  std::string out = "loaded " + std::to_string(loaded) + " tensors";
  if (!mismatched.empty()) out += "; shape mismatch: " + join(mismatched, "; ");
  if (!missing.empty()) out += "; missing " + std::to_string(missing.size()) + ": " + shortened(missing);
  if (!unexpected.empty())
    out += "; unexpected (ignored) " + std::to_string(unexpected.size()) + ": " + shortened(unexpected);
  return out;
}

WeightReport assign_weights(torch::nn::Module& model, const std::string& module, const io::TensorFile& file,
                            const spec::WeightsSpec& mapping) {
  std::map<std::string, const torch::Tensor*> by_name;
  for (const auto& [name, tensor] : file.tensors) by_name[mapped_name(name, mapping)] = &tensor;
  const std::string prefix = module.empty() ? "" : module + ".";
  std::set<std::string> used;
  WeightReport report;
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& full, torch::Tensor target) {
    if (!starts_with(full, prefix)) return;
    const std::string local = full.substr(prefix.size());
    auto it = by_name.find(local);
    if (it == by_name.end()) return report.missing.push_back(local);
    used.insert(local);
    const torch::Tensor& source = *it->second;
    if (source.sizes() != target.sizes())
      return report.mismatched.push_back(local + " (file " + graph::to_string(source.sizes().vec()) + ", model " +
                                         graph::to_string(target.sizes().vec()) + ")");
    target.copy_(source);
    ++report.loaded;
  };
  for (const auto& p : model.named_parameters()) assign(p.key(), p.value());
  for (const auto& b : model.named_buffers()) assign(b.key(), b.value());
  for (const auto& [name, tensor] : by_name)
    if (!used.count(name)) report.unexpected.push_back(name);
  return report;
}

std::vector<std::string> import_spec_weights(DagModel& model) {
  std::vector<std::string> lines;
  for (const auto& import : model.graph().weight_imports) {
    const spec::WeightsSpec& w = import.weights;
    io::TensorFile file;
    try {
      file = io::read_tensor_file(w.file);
    } catch (const Error& e) {
      throw Error(e.message(), w.loc, import.module, ErrorKind::Runtime);
    }
    WeightReport report = assign_weights(model, import.module, file, w);
    const std::string summary = w.file + " -> " + import.module + ": " + report.describe();
    if (report.loaded == 0 && report.mismatched.empty())
      throw Error("no tensor of " + w.file + " matches a parameter of '" + import.module + "' (" + report.describe() +
                      "); set weights.strip_prefix or weights.rename to map the file's names",
                  w.loc, import.module, ErrorKind::Spec);
    if (!report.mismatched.empty() || (w.strict && !report.missing.empty()))
      throw Error("cannot load weights " + summary +
                      (w.strict && !report.missing.empty() ? " (weights.strict: false loads the rest)" : ""),
                  w.loc, import.module, ErrorKind::Spec);
    lines.push_back(summary);
  }
  return lines;
}

}  // namespace dltrain::builder
