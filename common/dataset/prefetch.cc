#include "common/dataset/prefetch.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"

namespace align::data {

PrefetchingReader::PrefetchingReader(std::shared_ptr<const PairReader> reader, size_t depth, size_t threads)
    : reader_(std::move(reader)), depth_(std::max<size_t>(depth, 1)) {
  threads = std::max<size_t>(threads, 1);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

PrefetchingReader::~PrefetchingReader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  batch_ready_.notify_all();
  for (std::thread& thread : threads_) thread.join();
}

void PrefetchingReader::Enqueue(std::vector<int64_t> indices) {
  auto request = std::make_shared<Request>();
  request->indices = std::move(indices);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(request));
  }
  work_ready_.notify_one();
}

size_t PrefetchingReader::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

absl::StatusOr<PairBatch> PrefetchingReader::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (queue_.empty()) {
    return absl::FailedPreconditionError("PrefetchingReader::Next without a pending Enqueue");
  }
  std::shared_ptr<Request> front = queue_.front();
  batch_ready_.wait(lock, [&] { return front->done || stopping_; });
  if (!front->done) return absl::CancelledError("PrefetchingReader is shutting down");
  queue_.pop_front();
  lock.unlock();
  // Popping the front moved the read-ahead window by one.
  work_ready_.notify_one();
  return std::move(front->result);
}

void PrefetchingReader::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    std::shared_ptr<Request> request;
    // Only the first depth_ requests may be read: that bounds the memory held
    // by batches the trainer has not taken yet.
    work_ready_.wait(lock, [&] {
      if (stopping_) return true;
      const size_t window = std::min(depth_, queue_.size());
      for (size_t i = 0; i < window; ++i) {
        if (!queue_[i]->started) {
          request = queue_[i];
          return true;
        }
      }
      return false;
    });
    if (stopping_) return;
    request->started = true;
    lock.unlock();
    absl::StatusOr<PairBatch> result = reader_->Read(request->indices);
    lock.lock();
    request->result = std::move(result);
    request->done = true;
    batch_ready_.notify_all();
  }
}

}  // namespace align::data
