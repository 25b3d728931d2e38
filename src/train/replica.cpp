#include "train/replica.h"

#include <cstdlib>
#include <string>

#include "util/error.h"

namespace dltrain::train {
namespace {

// The variable as a number; `fallback` when unset.
int64_t env_int(const char* name, int64_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  try {
    size_t used = 0;
    const int64_t value = std::stoll(text, &used);
    if (used == std::string(text).size()) return value;
  } catch (const std::exception&) {
  }
  throw Error(std::string("environment variable ") + name + "='" + text + "' is not a whole number");
}

}  // namespace

Replica replica_from_environment() {
  const bool torchrun = std::getenv("WORLD_SIZE") != nullptr;
  Replica r;
  r.world_size = env_int(torchrun ? "WORLD_SIZE" : "SLURM_NTASKS", 1);
  r.rank = env_int(torchrun ? "RANK" : "SLURM_PROCID", 0);
  r.local_rank = env_int(torchrun ? "LOCAL_RANK" : "SLURM_LOCALID", 0);
  if (r.world_size < 1 || r.rank < 0 || r.rank >= r.world_size)
    throw Error("rank " + std::to_string(r.rank) + " is outside a world of " + std::to_string(r.world_size) + " (" +
                (torchrun ? "RANK/WORLD_SIZE" : "SLURM_PROCID/SLURM_NTASKS") + ")");
  return r;
}

}  // namespace dltrain::train
