// The torch.save reader (weight import from PyTorch): the zip container and its pickle.
#include "fuzz_main.h"
#include "io/torch_save.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace dltrain;
  const std::string path = fuzz::scratch_file(data, size, ".pt");
  return fuzz::expect_dltrain_errors([&] { io::read_torch_save(path); });
}
