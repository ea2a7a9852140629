#pragma once
// Runs a ChunkSource on a background thread, at most `depth` items ahead, so
// that reading and decoding the next images overlaps the encoders' forward
// pass on the current batch. Items come out in chunk order.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/prepare/chunk_source.h"

namespace align::prepare {

class PrefetchingChunkSource {
 public:
  PrefetchingChunkSource(const InputIndex& index, const WorkChunk& chunk, const ConditioningOptions& options,
                         size_t depth);
  ~PrefetchingChunkSource();  // stops the thread (dropping items not taken)
  bool Next(PreparedItem* out);

 private:
  void Run();

  ChunkSource source_;
  size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<PreparedItem> ready_;
  bool done_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace align::prepare
