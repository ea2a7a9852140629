#pragma once
// Wakes watchers when the store changes. One counter for the whole store:
// jobs change a few times a second at most, so a watcher re-reading its job
// on any change costs little and needs no per-job bookkeeping.

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "absl/time/time.h"

namespace align::coordinator {

class ChangeFeed {
 public:
  uint64_t version() const {
    std::lock_guard<std::mutex> lock(mu_);
    return version_;
  }
  void Notify() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++version_;
    }
    cv_.notify_all();
  }
  // Returns the version once it differs from `seen`, or at the timeout (so
  // callers can check whether their client went away) or after Close().
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, absl::ToChronoNanoseconds(timeout), [&] { return version_ != seen || closed_; });
    return version_;
  }
  void Close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = true;
    }
    cv_.notify_all();
  }
  bool closed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t version_ = 0;
  bool closed_ = false;
};

}  // namespace align::coordinator
