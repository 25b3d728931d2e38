#include "fuzz_main.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace dltrain::fuzz {

std::string scratch_file(const uint8_t* data, size_t size, const std::string& extension) {
  const char* dir = std::getenv("TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/dltrain-fuzz-" + std::to_string(::getpid()) + extension;
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

}  // namespace dltrain::fuzz
