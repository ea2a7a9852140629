#pragma once
// Ranks sharing a host share its cores: each rank's intra-op thread pool gets
// an equal share, since oversubscribing the cores makes every rank slow. A
// rank already confined to some cores (mpirun --bind-to, Slurm's
// --cpus-per-task, a cgroup cpuset) uses exactly those.

namespace align::engine {

// The cores this rank may use: its CPU affinity when that is narrower than
// the host, else the host's cores divided among its local ranks.
int FairShareOfCores();
void UseFairShareOfCores();

}  // namespace align::engine
