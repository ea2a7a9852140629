#pragma once
// Store writes that a passing failure must not lose. The Scheduler writes
// what workers report (progress, events, a job's end) through this: a write
// that fails for a reason that may pass (the database busy, the disk full for
// a moment) is logged with what it is about and tried again on the next
// Retry(), in the order the writes were made; one the store refuses for good
// (the job has moved on: FailedPrecondition, NotFound, InvalidArgument, ...)
// is logged and not tried again, since trying again would be refused the same.
//
// Thread-safe. A write runs without this class's lock held, so it may itself
// make a write (that one then runs after it). While writes wait, a new one
// waits behind them: a job's writes land in the order they were made.

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "absl/status/status.h"

namespace align::coordinator {

class StoreWrites {
 public:
  using Write = std::function<absl::Status()>;

  // At most `max_waiting` writes wait; beyond that a failed write is logged
  // as given up (a store that fails this long needs an operator).
  explicit StoreWrites(size_t max_waiting = 10000) : max_waiting_(max_waiting) {}

  // `subject` and `what` name the write in the log: "job-000042", "record
  // its progress at step 12". True when it landed now; false when it waits
  // (or was refused for good, which is logged).
  bool Run(std::string subject, std::string what, Write write);
  // Runs the waiting writes, oldest first, until one fails again.
  void Retry();
  size_t waiting() const;

  // Whether a write that failed with `status` may succeed later.
  static bool MayPass(const absl::Status& status);

 private:
  struct Pending {
    std::string subject;
    std::string what;
    Write write;
  };
  // A write failed: keep it for Retry() (true) or log it as refused for good.
  bool KeepFailed(const Pending& write, const absl::Status& status, bool retried);

  const size_t max_waiting_;
  mutable std::mutex mu_;
  // The front stays here while Retry() runs it, so that writes made meanwhile
  // queue behind it.
  std::deque<Pending> waiting_;
  bool retrying_ = false;
};

}  // namespace align::coordinator
