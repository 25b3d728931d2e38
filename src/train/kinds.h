// The catalog of every kind a spec can name, read from the registries: layers, data sources and
// ops, optimizers, schedules, losses and metrics, each with its help line and the parameters its
// parse function reads (a describing ParamReader's record). `dltrain kinds` prints it; the JSON
// Schema for editors is to be generated from it too.
#pragma once

#include <string>
#include <vector>

#include "spec/params.h"

namespace dltrain::train {

struct KindCategory {
  std::string name;  // layers, sources, ops, optimizers, schedules, losses, metrics
  std::string key;   // where a spec names one ("model", "data.<split>.ops", "train.optimizer", ...)
  std::vector<spec::KindDescription> kinds;  // sorted by name
};

std::vector<KindCategory> kind_catalog();

}  // namespace dltrain::train
