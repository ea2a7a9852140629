#pragma once
// One coordinator per state directory: two would both hand out the same
// queued jobs. An flock on DIR/coordinator.lock, released when the process
// exits however it exits.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace align::coordinator {

class StateDirLock {
 public:
  // FailedPrecondition when another process holds the lock.
  static absl::StatusOr<std::unique_ptr<StateDirLock>> Acquire(const std::string& state_dir);
  ~StateDirLock();

 private:
  explicit StateDirLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace align::coordinator
