// CRC-32C (Castagnoli), as RFC 3720 defines it, and the masked form TFRecord files (TensorBoard's
// event files) store. Table-driven; Debian 12 has no C++ library with it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dltrain::io {

uint32_t crc32c(const void* data, size_t size);
uint32_t masked_crc32c(const void* data, size_t size);

}  // namespace dltrain::io
