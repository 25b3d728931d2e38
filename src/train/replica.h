// This process's place in a data-parallel job, read from the launcher's environment: torchrun's
// RANK / WORLD_SIZE / LOCAL_RANK, else SLURM's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID.
// The trainer shards the data by it, and only the primary replica logs and saves.
#pragma once

#include <cstdint>

namespace dltrain::train {

struct Replica {
  int64_t rank = 0, world_size = 1, local_rank = 0;
  bool primary() const { return rank == 0; }
};

// Throws Error when the variables are malformed (RANK outside 0..WORLD_SIZE-1, not a number).
Replica replica_from_environment();

}  // namespace dltrain::train
