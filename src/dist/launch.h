// dist: data-parallel training over PyTorch's c10d. This header: where this process stands in a
// job, read from the launcher's environment (torchrun's RANK / WORLD_SIZE / LOCAL_RANK /
// MASTER_ADDR / MASTER_PORT, else SLURM's SLURM_PROCID / SLURM_NTASKS / SLURM_LOCALID /
// SLURM_NODELIST), and the local launcher behind `fit --nproc-per-node`. Depends on util only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace dltrain::dist {

struct Placement {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::string launcher;  // "torchrun", "slurm", or "" for a plain process
  // Trains in a process group: several processes, or torchrun's single one (its users expect one).
  bool distributed() const { return world_size > 1 || launcher == "torchrun"; }
  bool primary() const { return rank == 0; }
};

// Reads a variable; nullptr when unset (std::getenv, or a map in tests).
using Environment = std::function<const char*(const char*)>;

// torchrun's variables when WORLD_SIZE is set, else SLURM's when SLURM_NTASKS is; else one
// process. Under SLURM the master is the first host of SLURM_JOB_NODELIST (MASTER_ADDR wins) and
// the port 15000 + SLURM_JOB_ID % 20000 (MASTER_PORT wins). Throws Error naming the variable
// when one is malformed (not a number, rank outside the world, a bad node list).
Placement placement_from_environment(const Environment& env);
Placement placement_from_environment();

// SLURM's compressed host list, expanded in order: "node[01-03,07],gpu5" -> node01 node02
// node03 node07 gpu5 (zero padding kept; several bracket groups in one name multiply out).
// Throws Error for unbalanced brackets or a bad range.
std::vector<std::string> expand_host_list(const std::string& list);

// torchrun's standalone mode: runs `argv` (this program's own command line, without
// --nproc-per-node) as `nproc` local workers with RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT set; forwards SIGINT, SIGTERM and SIGUSR1 to
// them all. When one fails, the others get SIGTERM and, after `grace_s`, SIGKILL. Returns the
// first failing worker's exit status (128 + signal when killed), else 0. Blocks until all exit.
int run_local_workers(const std::vector<std::string>& argv, int nproc, int grace_s = 30);

}  // namespace dltrain::dist
