// The one list of built-in exporters. Adding one: its file in export/, one line here, one line
// in src/CMakeLists.txt, a test that runs its output in the format's own runtime.
#include "export/exporter.h"

namespace dltrain::exporters {

#ifdef DLTRAIN_WITH_ONNX
void register_onnx(ExporterRegistry& registry);
#endif

void register_builtin_exporters(ExporterRegistry& registry) {
#ifdef DLTRAIN_WITH_ONNX
  register_onnx(registry);
#endif
}

const ExporterRegistry& exporter_registry() { return built_once<ExporterKind, register_builtin_exporters>(); }

}  // namespace dltrain::exporters
