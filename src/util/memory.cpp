#include "util/memory.h"

#include <unistd.h>

#include <fstream>
#include <string>

#ifdef DLTRAIN_WITH_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#include <gperftools/tcmalloc.h>
#elif defined(__GLIBC__)
#include <gnu/libc-version.h>
#include <malloc.h>
#endif

namespace dltrain {

std::string allocator_name() {
#ifdef DLTRAIN_WITH_TCMALLOC
  return std::string("tcmalloc (") + tc_version(nullptr, nullptr, nullptr) + ")";
#elif defined(__GLIBC__)
  return std::string("glibc malloc ") + gnu_get_libc_version();
#else
  return "the system's malloc";
#endif
}

void configure_allocator() {
#if !defined(DLTRAIN_WITH_TCMALLOC) && defined(__GLIBC__)
  // tcmalloc needs nothing. glibc by default serves blocks above 128 KB-32 MB with mmap and
  // trims the heap top, so each step unmaps its activations and pays page faults to zero them
  // again (12% of a profile in the kernel). Keeping freed memory in the process makes steps
  // 15-50% faster (docs/benchmarks.md), at the price of fragmentation: glibc's heap then holds
  // about twice a step's live memory, where tcmalloc's size classes hold little more than it.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void release_free_memory() {
#ifdef DLTRAIN_WITH_TCMALLOC
  MallocExtension_ReleaseFreeMemory();
#elif defined(__GLIBC__)
  malloc_trim(0);
#endif
}

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

double peak_resident_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  123 kB"
  return 0;
}

}  // namespace dltrain
