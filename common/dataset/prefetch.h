#pragma once
// Reads batches ahead of the trainer on background threads, so that decoding
// F16/BF16 shards and page faults on the mmap overlap with compute. Batches come
// out in the order they were requested, whatever order the threads finish in.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/pair_batch.h"
#include "common/dataset/reader.h"

namespace align::data {

class PrefetchingReader {
 public:
  // At most `depth` (>= 1) requested batches are read or being read ahead of
  // Next(); `threads` (>= 1) read concurrently.
  PrefetchingReader(std::shared_ptr<const PairReader> reader, size_t depth, size_t threads = 1);
  // Joins the threads; requests not yet started are dropped, reads in progress
  // finish first (one batch each at most).
  ~PrefetchingReader();
  PrefetchingReader(const PrefetchingReader&) = delete;
  PrefetchingReader& operator=(const PrefetchingReader&) = delete;

  // Requests one batch; batches are returned by Next() in Enqueue order.
  void Enqueue(std::vector<int64_t> indices);
  // Blocks until the oldest requested batch is read and returns it (or the
  // read's error). FailedPrecondition when nothing is pending.
  absl::StatusOr<PairBatch> Next();
  // Requests not yet returned by Next().
  size_t pending() const;

 private:
  struct Request {
    std::vector<int64_t> indices;
    bool started = false;
    bool done = false;
    absl::StatusOr<PairBatch> result;
  };

  void Loop();

  const std::shared_ptr<const PairReader> reader_;
  const size_t depth_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;          // a request entered the read-ahead window
  std::condition_variable batch_ready_;         // a request finished
  std::deque<std::shared_ptr<Request>> queue_;  // front: the next batch Next() returns
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace align::data
