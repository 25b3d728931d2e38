// The safetensors reader (checkpoints, weight import): header JSON, offsets, sizes, checksum.
#include "fuzz_main.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  const std::string path = fuzz::scratch_file(data, size, ".safetensors");
  return fuzz::expect_dltrain_errors([&] { io::read_safetensors(path); });
}
