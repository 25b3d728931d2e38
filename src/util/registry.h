// Registry<T>: name -> entry tables (layer kinds, data ops), filled once by an explicit
// register_builtin_* function, never by static initializers. Entries need a `name` member.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "util/error.h"

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
  std::vector<std::string> names() const {  // sorted
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_) out.push_back(name);
    return out;
  }

 private:
  std::map<std::string, T> entries_;
};

}  // namespace dltrain
