#include "worker/engine/collective_watchdog.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace align::engine {

CollectiveWatchdog::CollectiveWatchdog(absl::Duration timeout, std::function<void(const std::string& why)> abort,
                                       absl::Duration interval)
    : timeout_(timeout), interval_(interval), abort_(std::move(abort)), thread_([this] { Loop(); }) {}

CollectiveWatchdog::~CollectiveWatchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CollectiveWatchdog::Watch(std::string what, std::function<AsyncPoll()> poll) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    watched_.push_back({std::move(what), std::move(poll), absl::Now()});
  }
  wake_.notify_all();
}

std::string CollectiveWatchdog::abort_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return abort_reason_;
}

size_t CollectiveWatchdog::pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watched_.size();
}

void CollectiveWatchdog::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (watched_.empty() || !abort_reason_.empty()) {
      wake_.wait(lock, [this] { return stopping_ || (!watched_.empty() && abort_reason_.empty()); });
      continue;
    }
    // Operations on one stream finish in order: the oldest decides.
    Watched& oldest = watched_.front();
    const AsyncPoll polled = oldest.poll();
    if (polled.state == AsyncState::kDone) {
      watched_.pop_front();
      continue;
    }
    std::string why;
    if (polled.state == AsyncState::kFailed) {
      why = absl::StrCat(oldest.what, " failed: ", polled.error);
    } else if (absl::Now() - oldest.since >= timeout_) {
      why = absl::StrCat(oldest.what, " did not finish within ", absl::FormatDuration(timeout_),
                         " (a rank of the job died or hangs)");
    }
    if (!why.empty()) {
      abort_reason_ = why;
      watched_.clear();
      lock.unlock();
      abort_(why);
      lock.lock();
      continue;
    }
    wake_.wait_for(lock, absl::ToChronoNanoseconds(interval_), [this] { return stopping_; });
  }
}

}  // namespace align::engine
