// io: safetensors files (https://huggingface.co/docs/safetensors): an 8-byte header length, a
// JSON header (dtype, shape, byte offsets per tensor, string metadata) and raw little-endian
// data. Readable by Python's `safetensors` package; loading runs no code. Writes are atomic
// (temp file in the same folder, fsync, rename, fsync of the folder) and carry a CRC32 of the
// data in the metadata, which reads verify.
#pragma once

#include <torch/types.h>

#include <map>
#include <string>
#include <vector>

namespace dltrain::io {

struct TensorFile {
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;

  const torch::Tensor* find(const std::string& name) const;
};

// Writes atomically; the previous file at `path` survives any failure. Tensors are written
// contiguous from CPU memory. Throws Error (runtime) naming the path on I/O failure.
void write_safetensors(const std::string& path, const TensorFile& file);

// Reads and validates (header, offsets, sizes, checksum); throws Error naming the path and
// what is wrong for a truncated or corrupt file.
TensorFile read_safetensors(const std::string& path);

}  // namespace dltrain::io
