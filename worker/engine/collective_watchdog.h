#pragma once
// A thread that watches collectives in flight and gives up on a stuck one: a
// peer rank that died or hangs leaves the others' collective kernels waiting
// forever (the host blocks in the next stream synchronisation). When an
// operation is still pending `timeout` after it was handed over, or its poll
// reports a failure, `abort` runs once (NCCL: ncclCommAbort, which ends the
// waiting kernels) and the communicator refuses further work with the reason.
// Plain C++: the NCCL backend supplies the polls (CUDA events, ncclCommGetAsyncError).

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "worker/engine/async_wait.h"

namespace align::engine {

class CollectiveWatchdog {
 public:
  CollectiveWatchdog(absl::Duration timeout, std::function<void(const std::string& why)> abort,
                     absl::Duration interval = absl::Milliseconds(50));
  ~CollectiveWatchdog();
  CollectiveWatchdog(const CollectiveWatchdog&) = delete;
  CollectiveWatchdog& operator=(const CollectiveWatchdog&) = delete;

  // Watches one operation from now on; `poll` runs on the watchdog's thread.
  void Watch(std::string what, std::function<AsyncPoll()> poll);
  // Empty while nothing was aborted; else why (the first reason only).
  std::string abort_reason() const;
  // Operations still watched.
  size_t pending() const;

 private:
  struct Watched {
    std::string what;
    std::function<AsyncPoll()> poll;
    absl::Time since;
  };
  void Loop();

  const absl::Duration timeout_;
  const absl::Duration interval_;
  const std::function<void(const std::string&)> abort_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Watched> watched_;
  std::string abort_reason_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after the members it reads
};

}  // namespace align::engine
