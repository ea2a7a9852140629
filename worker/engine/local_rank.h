#pragma once
// This process's index among the ranks on its host, from the launcher's
// environment (OpenMPI's mpirun, Slurm's srun, MPICH/Hydra); 0 when launched
// alone. Picks the GPU: rank r of a node uses device r.

#include <algorithm>
#include <cstdlib>

namespace align::engine {

inline int LocalRank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

// How many ranks the launcher started on this host (1 when launched alone).
inline int LocalRankCount() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE", "MPI_LOCALNRANKS"}) {
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  }
  return 1;
}

}  // namespace align::engine
