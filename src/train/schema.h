// The JSON Schema (draft 2020-12) of the spec language, generated from what validates specs: the
// kind catalog (layers, sources, ops, optimizers, schedules, losses, metrics, each with its
// parameters' types, defaults, ranges and help) and a describing read of `train:`. Editors
// (yaml-language-server) complete and check specs with it; `dltrain schema` prints it. What
// only the builder can check (shapes, references, cycles, block parameters) it leaves alone.
#pragma once

#include <string>

namespace dltrain::train {

// The schema as indented JSON text.
std::string spec_schema();

}  // namespace dltrain::train
