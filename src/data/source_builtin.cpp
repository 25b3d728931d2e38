// The one list of built-in source kinds. Adding one: its file (source_*.cpp, listed in
// src/CMakeLists.txt) with its registration, a line here, and its row in
// tests/data/source_test.cpp's conformance test.
#include "data/source_kinds.h"

namespace dltrain::data {

void register_csv_source(SourceRegistry& registry);
void register_folder_source(SourceRegistry& registry);
void register_split_of_source(SourceRegistry& registry);
void register_synthetic_source(SourceRegistry& registry);
void register_tar_source(SourceRegistry& registry);

void register_builtin_sources(SourceRegistry& registry) {
  register_csv_source(registry);
  register_folder_source(registry);
  register_split_of_source(registry);
  register_synthetic_source(registry);
  register_tar_source(registry);
}

const SourceRegistry& source_registry() { return built_once<SourceKind, register_builtin_sources>(); }

}  // namespace dltrain::data
