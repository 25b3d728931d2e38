// Process-wide runtime settings for the CLI: logging and thread counts, and the version report.
#pragma once

#include <string>

namespace dltrain::cli {

// -v: debug, -q: warnings and errors only; messages go to stderr, results to stdout.
void setup_logging(int verbose, bool quiet);
// Sets LibTorch's intra-op threads (Debian's LibTorch starts with 1); 0 = all cores.
// Returns the count in use.
int setup_threads(int requested);

// dltrain, LibTorch, OpenCV and CUDA versions, and the threads in use.
std::string version_report();

}  // namespace dltrain::cli
