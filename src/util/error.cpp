#include "util/error.h"

#include <cstdio>
#include <regex>

namespace dltrain {

std::string SourceLoc::str() const {
  if (file.empty()) return {};
  if (line <= 0) return file;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

Error::Error(std::string message, std::optional<SourceLoc> loc, std::string node, ErrorKind kind)
    : std::runtime_error(format(message, loc, node, kind)),
      message_(std::move(message)),
      loc_(loc && loc->known() ? loc : std::nullopt),
      node_(std::move(node)),
      kind_(kind) {}

Error Error::with_node(const std::string& node) const {
  if (!node_.empty() || node.empty()) return *this;
  return Error(message_, loc_, node, kind_);
}

Error Error::with_loc(const SourceLoc& loc) const {
  if (loc_) return *this;
  return Error(message_, loc, node_, kind_);
}

std::string Error::report(const char* severity) const {
  std::string out = loc_ ? loc_->str() + ": " : std::string();
  out += std::string(severity) + ": ";
  if (!node_.empty()) out += "layer " + node_ + ": ";
  return out + message_;
}

std::string Error::format(const std::string& message, const std::optional<SourceLoc>& loc, const std::string& node,
                          ErrorKind kind) {
  std::string out;
  if (loc && loc->known()) out += loc->str() + ": ";
  if (!node.empty()) out += "layer " + node + ": ";
  out += message;
  return out;
}

namespace {
std::string join_errors(const std::vector<Error>& errors) {
  std::string out;
  for (const auto& e : errors) {
    if (!out.empty()) out += "\n";
    out += e.what();
  }
  return out;
}
}  // namespace

std::string plain_torch_message(const std::string& what) {
  static const std::regex allocation("you tried to allocate ([0-9]+) bytes");
  static const std::regex enforce(R"(^\[enforce fail at [^\]]*\] [^.]*\. )");
  std::smatch match;
  if (std::regex_search(what, match, allocation)) {
    char size[32];
    std::snprintf(size, sizeof size, "%.1f GiB", std::stod(match[1].str()) / (1024.0 * 1024.0 * 1024.0));
    return std::string("out of memory: cannot allocate ") + size + " at once";
  }
  return std::regex_replace(what, enforce, "");
}

namespace {

// Errors equal but for their node, merged into the first, which names the others.
std::vector<Error> merge_instances(std::vector<Error> errors) {
  std::vector<Error> merged;
  std::vector<std::vector<std::string>> also;  // per merged error: the other nodes
  for (Error& e : errors) {
    size_t i = 0;
    for (; i < merged.size(); ++i) {
      const Error& m = merged[i];
      if (m.message() == e.message() && m.kind() == e.kind() && m.loc().has_value() == e.loc().has_value() &&
          (!m.loc() || m.loc()->str() == e.loc()->str()) && !m.node().empty() && !e.node().empty())
        break;
    }
    if (i == merged.size()) {
      merged.push_back(std::move(e));
      also.emplace_back();
    } else if (merged[i].node() != e.node()) {
      also[i].push_back(e.node());
    }
  }
  for (size_t i = 0; i < merged.size(); ++i) {
    if (also[i].empty()) continue;
    std::string nodes = merged[i].node() + " (also ";
    for (size_t k = 0; k < also[i].size(); ++k) nodes += (k ? ", " : "") + also[i][k];
    merged[i] = Error(merged[i].message(), merged[i].loc(), nodes + ")", merged[i].kind());
  }
  return merged;
}

}  // namespace

ErrorList::ErrorList(std::vector<Error> errors) : ErrorList(merge_instances(std::move(errors)), Merged{}) {}

ErrorList::ErrorList(std::vector<Error> merged, Merged)
    : std::runtime_error(join_errors(merged)), errors_(std::move(merged)) {}

}  // namespace dltrain
