// dltrain::Error: the one exception type for mistakes in a user's spec, data or command line.
// It carries an optional source location (file:line:col), the node path it concerns and a
// context chain, and prints compiler-style: `spec.yaml:31:9: layer res2/conv1: message`.
// Internal invariants use DLT_ASSERT, which throws an Error marked as a bug; nothing aborts.
#pragma once

#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace dltrain {

// 1-based position in a YAML file; line 0 means "no line" (e.g. a --set override).
struct SourceLoc {
  std::string file;
  int line = 0;
  int column = 0;

  bool known() const { return !file.empty(); }
  std::string str() const;  // "file:line:col", "file" or "" when unknown
};

// What went wrong decides the exit code: user mistakes (spec, usage) exit 2, failures while
// running (data, I/O, numerics) exit 1.
enum class ErrorKind { Spec, Runtime, Internal };

class Error : public std::runtime_error {
 public:
  Error(std::string message, std::optional<SourceLoc> loc = std::nullopt, std::string node = {},
        ErrorKind kind = ErrorKind::Spec);
  // A failure while running (I/O, data, numerics) that no spec location explains: exit 1.
  static Error runtime(std::string message) { return Error(std::move(message), std::nullopt, {}, ErrorKind::Runtime); }

  const std::string& message() const { return message_; }
  const std::optional<SourceLoc>& loc() const { return loc_; }
  const std::string& node() const { return node_; }
  ErrorKind kind() const { return kind_; }

  // Returns a copy with `node` set when none was set yet (inner errors keep the more precise one).
  Error with_node(const std::string& node) const;
  Error with_loc(const SourceLoc& loc) const;

  // Compiler style, for the terminal: "file:line:col: error: layer x: message".
  std::string report(const char* severity = "error") const;

 private:
  static std::string format(const std::string& message, const std::optional<SourceLoc>& loc, const std::string& node,
                            ErrorKind kind);
  std::string message_;
  std::optional<SourceLoc> loc_;
  std::string node_;
  ErrorKind kind_;
};

// Several spec errors collected in one pass (`dltrain check` reports them all). One mistake met
// once per instance (a block's layer in res1, res2, res3: the same message at the same place)
// is kept once, naming the instances: "layer res1/add (also res2/add, res3/add): ...".
class ErrorList : public std::runtime_error {
 public:
  explicit ErrorList(std::vector<Error> errors);
  const std::vector<Error>& errors() const { return errors_; }

 private:
  struct Merged {};
  ErrorList(std::vector<Error> merged, Merged);
  std::vector<Error> errors_;
};

// LibTorch's message (c10::Error::what_without_backtrace) as a user reads it: an allocation that
// failed becomes "out of memory: ..." with the size in GiB, and a C10_ENFORCE prefix
// ("[enforce fail at file.cpp:75] err == 0. ") is dropped; other messages pass unchanged.
std::string plain_torch_message(const std::string& what);

namespace detail {
template <typename... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

}  // namespace dltrain

// Internal invariant: a failure is a bug in dltrain, reported as such, never an abort.
#define DLT_ASSERT(cond, ...)                                                                                          \
  do {                                                                                                                 \
    if (!(cond))                                                                                                       \
      throw ::dltrain::Error(::dltrain::detail::concat("internal error (bug in dltrain) at ", __FILE__, ":", __LINE__, \
                                                       ": ", #cond, " ", ##__VA_ARGS__),                               \
                             std::nullopt, {}, ::dltrain::ErrorKind::Internal);                                        \
  } while (0)
