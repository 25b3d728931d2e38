#include "spec/compose.h"

#include <cstdlib>
#include <filesystem>
#include <functional>

#include "spec/yaml_io.h"
#include "util/strings.h"

namespace dltrain::spec {
namespace fs = std::filesystem;
namespace {

Value load_recursive(const std::string& path, std::vector<std::string>& chain) {
  std::string canonical = fs::weakly_canonical(path).string();
  for (const auto& seen : chain) {
    if (seen == canonical) {
      chain.push_back(canonical);
      throw Error("include cycle: " + join(chain, " -> "), SourceLoc{path, 0, 0});
    }
  }
  chain.push_back(canonical);
  Value doc = parse_yaml_file(path);
  if (doc.is_null()) doc = Value::map({path, 1, 1});
  if (!doc.is_map()) throw Error("a spec file must be a map of sections, got " + doc.describe(), doc.loc());

  Value merged = Value::map(doc.loc());
  if (const Value* include = doc.find("include")) {
    std::vector<Value> files = include->is_list() ? include->items() : std::vector<Value>{*include};
    for (const auto& file : files) {
      fs::path target = fs::path(path).parent_path() / file.as_string();
      if (!fs::exists(target)) throw Error("included file not found: " + target.string(), file.loc());
      merge_into(merged, load_recursive(target.string(), chain));
    }
    doc.erase("include");
  }
  merge_into(merged, doc);
  chain.pop_back();
  return merged;
}

}  // namespace

Value load_with_includes(const std::string& path) {
  if (!fs::exists(path)) throw Error("spec file not found", SourceLoc{path, 0, 0});
  std::vector<std::string> chain;
  return load_recursive(path, chain);
}

void merge_into(Value& base, const Value& overlay) {
  if (!base.is_map() || !overlay.is_map()) {
    base = overlay;
    return;
  }
  for (const auto& e : overlay.entries()) {
    Value* existing = base.find(e.key);
    if (existing && e.value.is_null()) {
      base.erase(e.key);  // `key: null` in an overlay removes the key (as Helm does)
    } else if (existing && existing->is_map() && e.value.is_map()) {
      merge_into(*existing, e.value);
    } else {
      base.set(e.key, e.value, e.key_loc);
    }
  }
}

void apply_override(Value& root, const std::string& assignment) {
  SourceLoc where{"--set " + assignment, 0, 0};
  size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw Error("an override is key.path=value, got '" + assignment + "'", where);
  const std::vector<std::string> path = split(assignment.substr(0, eq), '.');
  Value value = parse_yaml_string(assignment.substr(eq + 1), where.file);
  // Locations inside the value point at the override, not at a line of a file.
  std::function<void(Value&)> relocate = [&](Value& v) {
    v.set_loc(where);
    if (v.is_list())
      for (auto& item : v.items()) relocate(item);
    if (v.is_map())
      for (auto& e : v.entries()) {
        e.key_loc = where;
        relocate(e.value);
      }
  };
  relocate(value);

  Value* node = &root;
  std::string walked;
  for (size_t i = 0; i < path.size(); ++i) {
    const std::string& part = path[i];
    const bool last = i + 1 == path.size();
    if (node->is_list()) {
      auto& items = node->items();
      char* end = nullptr;
      long index = std::strtol(part.c_str(), &end, 10);
      if (part.empty() || *end != '\0' || index < 0 || static_cast<size_t>(index) >= items.size())
        throw Error("'" + walked + "' is a list of " + std::to_string(items.size()) + " items; '" + part +
                        "' is not an index in it",
                    where);
      node = &items[static_cast<size_t>(index)];
    } else {
      if (node->is_null()) *node = Value::map(where);
      if (!node->is_map())
        throw Error("'" + walked + "' is " + node->describe() + ", it has no key '" + part + "'", where);
      Value* child = node->find(part);
      if (!child) {
        node->set(part, last ? value : Value::map(where), where);
        child = node->find(part);
      }
      node = child;
    }
    walked += (walked.empty() ? "" : ".") + part;
  }
  *node = value;
}

Value compose(const std::string& spec_path, const std::vector<std::string>& overlay_paths,
              const std::vector<std::string>& overrides) {
  Value root = load_with_includes(spec_path);
  for (const auto& overlay : overlay_paths) merge_into(root, load_with_includes(overlay));
  for (const auto& assignment : overrides) apply_override(root, assignment);
  return root;
}

}  // namespace dltrain::spec
