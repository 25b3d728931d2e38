// PyTorch's own files: what `torch.save(model.state_dict(), path)` writes (the zip format of
// PyTorch >= 1.6), read through LibTorch's restricted unpickler, which rebuilds tensors and
// containers only: no Python code runs.
#pragma once

#include <string>

#include "io/safetensors.h"

namespace dltrain::io {

// The file's tensors; nested dicts flatten to dotted names ("state_dict.fc.weight"), anything
// that is not a tensor is ignored. Throws Error naming the path when it cannot be read.
TensorFile read_torch_save(const std::string& path);

// A weights file of either format, told apart by its first bytes (a zip is torch.save).
TensorFile read_tensor_file(const std::string& path);

}  // namespace dltrain::io
