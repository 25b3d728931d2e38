// Files that appear whole or not at all: written to a temporary file in the target's folder,
// fsynced, renamed over the target, and the folder fsynced. Until commit() (and after any
// failure) the previous file at the path is untouched. Temporary files of the same target whose
// writer process is gone (killed mid-write) are removed when the next one starts.
#pragma once

#include <cstddef>
#include <string>

namespace dltrain::io {

class AtomicFile {
 public:
  // Creates the temporary file; throws Error (runtime) naming `path` when it cannot.
  explicit AtomicFile(std::string path);
  // Removes the temporary file unless committed.
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes; throws Error (runtime) naming the path (a full disk, say).
  void write(const void* data, size_t size);
  // Makes the file the one at `path`; throws Error (runtime) when it cannot.
  void commit();

 private:
  std::string path_, temp_;
  int fd_ = -1;
};

}  // namespace dltrain::io
