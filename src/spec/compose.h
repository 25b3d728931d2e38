// Composition of a spec document: `include:` files, `-c` overlays and `--set` overrides.
// Order (later wins): included files in listed order, then the including file itself, then
// each overlay in command-line order (overlays may include files too), then each --set.
// Maps merge key by key; lists and scalars are replaced whole.
#pragma once

#include <string>
#include <vector>

#include "spec/value.h"

namespace dltrain::spec {

// Loads `path` with its includes resolved relative to the including file. Include cycles throw
// with the chain of files.
Value load_with_includes(const std::string& path);

// Deep-merges `overlay` into `base` (maps by key, everything else replaced).
void merge_into(Value& base, const Value& overlay);

// Applies one `dotted.path=value` override; list elements by index (`model.3.out_features=10`).
// The value is parsed as YAML (`--set data.train.batch=128`, `--set ops=[decode]`).
void apply_override(Value& root, const std::string& assignment);

// The resolved document: `spec_path` + includes, overlays, overrides.
Value compose(const std::string& spec_path, const std::vector<std::string>& overlay_paths,
              const std::vector<std::string>& overrides);

}  // namespace dltrain::spec
