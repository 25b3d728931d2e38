#include <spdlog/spdlog.h>

#include "train/policies.h"
#include "util/strings.h"

namespace dltrain::train {

void NonFiniteLoss::handle(int64_t step, int64_t epoch, int64_t batch, const std::vector<std::string>& outputs) const {
  const std::string which = join(outputs);
  if (skip_) {
    spdlog::warn("step {}: non-finite loss of {}; batch skipped (on_nan: skip_batch)", step + 1, which);
    return;
  }
  const std::filesystem::path last = checkpoints_ / "last.safetensors";
  throw Error::runtime("step " + std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) + ", batch " +
                       std::to_string(batch + 1) + "): the loss of output " + which + " is not finite; " +
                       (std::filesystem::exists(last)
                            ? "last good checkpoint: " + std::filesystem::canonical(last).string()
                            : std::string("no checkpoint was saved yet")) +
                       " (train.on_nan: skip_batch skips such batches)");
}

}  // namespace dltrain::train
