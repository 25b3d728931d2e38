// Where a process stands in a job: torchrun's and SLURM's variables, SLURM's node lists.
#include <catch2/catch.hpp>

#include <map>

#include "dist/launch.h"

using namespace dltrain;

namespace {

dist::Placement placement(const std::map<std::string, std::string>& vars) {
  return dist::placement_from_environment([&vars](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  });
}

}  // namespace

TEST_CASE("SLURM's compressed node lists expand in order, with their padding", "[dist]") {
  using V = std::vector<std::string>;
  CHECK(dist::expand_host_list("gpu5") == V{"gpu5"});
  CHECK(dist::expand_host_list("node[01-04,07]") == V{"node01", "node02", "node03", "node04", "node07"});
  CHECK(dist::expand_host_list("a[8-10],b") == V{"a8", "a9", "a10", "b"});
  CHECK(dist::expand_host_list("r[1-2]-n[3,5]") == V{"r1-n3", "r1-n5", "r2-n3", "r2-n5"});
  CHECK(dist::expand_host_list("x[098-101]") == V{"x098", "x099", "x100", "x101"});
  CHECK_THROWS_WITH(dist::expand_host_list("node[01-04"), Catch::Contains("unbalanced brackets"));
  CHECK_THROWS_WITH(dist::expand_host_list("node[04-01]"), Catch::Contains("bad range '04-01'"));
  CHECK_THROWS_WITH(dist::expand_host_list("node[a-b]"), Catch::Contains("bad range"));
  CHECK_THROWS_WITH(dist::expand_host_list("a,,b"), Catch::Contains("empty host name"));
}

TEST_CASE("one process without a launcher's variables", "[dist]") {
  const dist::Placement p = placement({});
  CHECK(p.world_size == 1);
  CHECK(p.primary());
  CHECK_FALSE(p.distributed());
  CHECK(p.launcher.empty());
}

TEST_CASE("torchrun's variables place the process and name the master", "[dist]") {
  const dist::Placement p = placement({{"WORLD_SIZE", "8"},
                                       {"RANK", "5"},
                                       {"LOCAL_RANK", "1"},
                                       {"LOCAL_WORLD_SIZE", "4"},
                                       {"MASTER_ADDR", "10.0.0.7"},
                                       {"MASTER_PORT", "29600"},
                                       {"SLURM_NTASKS", "2"}});
  CHECK(p.launcher == "torchrun");  // torchrun's variables win over SLURM's
  CHECK(p.world_size == 8);
  CHECK(p.rank == 5);
  CHECK(p.local_rank == 1);
  CHECK(p.local_world_size == 4);
  CHECK(p.master_addr == "10.0.0.7");
  CHECK(p.master_port == 29600);
  CHECK_FALSE(p.primary());
  CHECK(placement({{"WORLD_SIZE", "1"}}).distributed());  // torchrun's one process: a group of one
  CHECK_FALSE(placement({{"SLURM_NTASKS", "1"}, {"SLURM_JOB_NODELIST", "n1"}}).distributed());

  CHECK_THROWS_WITH(placement({{"WORLD_SIZE", "2"}, {"RANK", "2"}}), Catch::Contains("outside a world of 2"));
  CHECK_THROWS_WITH(placement({{"WORLD_SIZE", "2"}, {"RANK", "one"}}), Catch::Contains("RANK='one'"));
  CHECK_THROWS_WITH(placement({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"MASTER_PORT", "70000"}}),
                    Catch::Contains("MASTER_PORT 70000"));
  CHECK_THROWS_WITH(placement({{"WORLD_SIZE", "4"}, {"RANK", "0"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"}}),
                    Catch::Contains("LOCAL_RANK/LOCAL_WORLD_SIZE"));
}

TEST_CASE("SLURM's variables: the first node is the master, the port comes from the job id", "[dist]") {
  const dist::Placement p = placement({{"SLURM_NTASKS", "16"},
                                       {"SLURM_PROCID", "9"},
                                       {"SLURM_LOCALID", "1"},
                                       {"SLURM_NTASKS_PER_NODE", "4"},
                                       {"SLURM_JOB_NODELIST", "gpu[07-10]"},
                                       {"SLURM_JOB_ID", "123456"}});
  CHECK(p.launcher == "slurm");
  CHECK(p.world_size == 16);
  CHECK(p.rank == 9);
  CHECK(p.local_rank == 1);
  CHECK(p.local_world_size == 4);
  CHECK(p.master_addr == "gpu07");
  CHECK(p.master_port == 15000 + 123456 % 20000);

  const dist::Placement q = placement({{"SLURM_NTASKS", "6"},
                                       {"SLURM_PROCID", "0"},
                                       {"SLURM_TASKS_PER_NODE", "2(x3)"},
                                       {"SLURM_NODELIST", "a,b,c"},
                                       {"MASTER_ADDR", "head"},
                                       {"MASTER_PORT", "4000"}});
  CHECK(q.local_world_size == 2);
  CHECK(q.master_addr == "head");  // MASTER_ADDR and MASTER_PORT win
  CHECK(q.master_port == 4000);

  CHECK_THROWS_WITH(placement({{"SLURM_NTASKS", "2"}, {"SLURM_PROCID", "1"}}), Catch::Contains("SLURM_JOB_NODELIST"));
  CHECK_THROWS_WITH(placement({{"SLURM_NTASKS", "2"}, {"SLURM_PROCID", "0"}, {"SLURM_JOB_NODELIST", "n[1-"}}),
                    Catch::Contains("unbalanced brackets"));
}
