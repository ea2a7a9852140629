#pragma once
// The few collectives the worker's control loop needs to keep its ranks in
// step (which group id, whether everyone got the same job, whether anyone
// lost the coordinator). They run on a duplicate of MPI_COMM_WORLD, so they
// can never match the trainer's collectives, and they poll non-blocking MPI
// calls with short sleeps: a rank waiting for its peers (e.g. while rank 0
// retries the coordinator) does not spin a core. Torch-free.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace align::control {

class MpiGroup {
 public:
  MpiGroup();  // MPI must be initialised
  ~MpiGroup();
  MpiGroup(const MpiGroup&) = delete;
  MpiGroup& operator=(const MpiGroup&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  std::vector<std::string> AllGather(const std::string& value);
  // `root`'s value on every rank.
  std::string Broadcast(const std::string& value, int root);
  // True on every rank if it is true on any.
  bool AnyTrue(bool value);
  // True on every rank if every rank passed the same value.
  bool AllEqual(int64_t value);
  // OK when every rank is OK; else the lowest failing rank's status, on every rank.
  absl::Status AgreeOnError(const absl::Status& local);

 private:
  void Wait(void* request);

  void* comm_;  // MPI_Comm, kept opaque here
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace align::control
