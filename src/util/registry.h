// Registry<T>: name -> entry tables (layer kinds, data ops, optimizers, schedules, losses,
// metrics), filled once by an explicit register_builtin_* function, never by static
// initializers. Entries need a `name` member.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/strings.h"

namespace dltrain {

template <typename T>
class Registry {
 public:
  // Throws an internal error on a duplicate name.
  void add(T entry) {
    DLT_ASSERT(!entries_.count(entry.name), "registered twice: ", entry.name);
    std::string name = entry.name;
    entries_.emplace(std::move(name), std::move(entry));
  }
  // nullptr when unknown.
  const T* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // The entry, or a spec Error at `loc`: "unknown optimizer 'adamm' (did you mean 'adam'?);
  // optimizers: adam, adamw, ...". `what` and `plural` name the kind in the message.
  const T& get(const std::string& name, const std::string& what, const std::string& plural,
               const SourceLoc& loc) const {
    if (const T* entry = find(name)) return *entry;
    throw Error(
        "unknown " + what + " '" + name + "'" + did_you_mean(name, names()) + "; " + plural + ": " + join(names()),
        loc);
  }
  std::vector<std::string> names() const {  // sorted
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, T> entries_;
};

// The registry `fill` fills, made once on first use (thread-safe: a function-local static).
template <typename T, void (*fill)(Registry<T>&)>
const Registry<T>& built_once() {
  static const Registry<T> registry = [] {
    Registry<T> r;
    fill(r);
    return r;
  }();
  return registry;
}

}  // namespace dltrain
