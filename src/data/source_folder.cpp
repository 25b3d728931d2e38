// The `folder` source: root/<class>/<image>.
#include "data/source_kinds.h"

#include <algorithm>
#include <filesystem>

#include "util/strings.h"

namespace dltrain::data {
namespace {

namespace fs = std::filesystem;

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

}  // namespace

void register_folder_source(SourceRegistry& registry) {
  registry.add({"folder", "images in one sub-folder per class (the classes are the sorted folder names)",
                [](spec::ParamReader& p, SourceSpec& source) {
                  source.path = p.get_path("folder");
                  source.extensions = p.get_or<std::vector<std::string>>("extensions", default_image_extensions());
                },
                load_folder});
}

}  // namespace dltrain::data
