// Process-wide CUDA switches, read from the environment and applied once, before the first CUDA
// call (dltrain's main and the test runner call this first). They bisect a CUDA failure at run
// time without a rebuild:
//   DLTRAIN_CUDNN=0              cuDNN off: LibTorch's own kernels (Python: torch.backends.cudnn.enabled = False)
//   DLTRAIN_CUDA_PRELOAD=python  the torch wheel's CUDA libraries loaded by full path, in the order
//                                torch/__init__.py preloads them, as a Python process has them
#pragma once

#include <string>
#include <vector>

namespace dltrain::train {

// Applies the switches set; returns one line per switch for the log (empty when none is set).
// Throws Error for a value it does not know.
std::vector<std::string> apply_cuda_switches();

}  // namespace dltrain::train
