#include "common/prepare/chunk_prefetch.h"

#include <algorithm>
#include <utility>

namespace align::prepare {

PrefetchingChunkSource::PrefetchingChunkSource(const InputIndex& index, const WorkChunk& chunk,
                                               const ConditioningOptions& options, size_t depth)
    : source_(index, chunk, options), depth_(std::max<size_t>(1, depth)), thread_([this] { Run(); }) {}

PrefetchingChunkSource::~PrefetchingChunkSource() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PrefetchingChunkSource::Run() {
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || ready_.size() < depth_; });
      if (stop_) return;
    }
    PreparedItem item;
    const bool more = source_.Next(&item);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (more) {
        ready_.push_back(std::move(item));
      } else {
        done_ = true;
      }
    }
    cv_.notify_all();
    if (!more) return;
  }
}

bool PrefetchingChunkSource::Next(PreparedItem* out) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !ready_.empty() || done_; });
  if (ready_.empty()) return false;
  *out = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  cv_.notify_all();
  return true;
}

}  // namespace align::prepare
