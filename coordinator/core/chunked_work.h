#pragma once
// A job whose work is a fixed list of chunks that ranks do independently and
// report one by one (prepare, generate, score, pairs): the coordinator plans
// the chunks from the spec alone, gives each rank a contiguous share of the
// unfinished ones when a group takes the job, checks each reported chunk's
// record on shared storage, and finishes the job (an index, a manifest, a
// report) when the group completes it. What differs per type is a ChunkedWork;
// ChunkedJobRun (chunked_job_run.h) is the JobRun over any of them.

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class ChunkedWork {
 public:
  virtual ~ChunkedWork() = default;

  virtual int64_t total_chunks() const = 0;
  // Thread-safe.
  virtual int64_t done_chunks() const = 0;
  // The unfinished chunks' positions in `parts` contiguous, balanced parts.
  virtual std::vector<std::vector<int64_t>> SplitPending(int parts) const = 0;
  // Rank `rank` reports chunk `position` finished with its own counts
  // (`items`, `failed_items`: what the kind counts). Thread-safe. InvalidArgument
  // for a position outside the plan; FailedPrecondition when its record is not
  // on the storage the coordinator sees.
  virtual absl::StatusOr<WorkProgress> ChunkDone(int rank, int64_t position, int64_t items, int64_t failed_items) = 0;
  // Every chunk done: what the job leaves (index, manifest, report) and its result.
  virtual FinishedJob Finish() = 0;
  // "12 prompts x 4 samples in 3 chunks": for the `planned` event.
  virtual std::string Describe() const = 0;
};

// Which chunks are done, by position; thread-safe. The shared bookkeeping of
// the ChunkedWork implementations.
class ChunkLedger {
 public:
  explicit ChunkLedger(int64_t chunks) : done_(chunks, false) {}
  int64_t size() const { return static_cast<int64_t>(done_.size()); }
  // InvalidArgument naming the plan's size when `position` is outside it.
  absl::Status CheckPosition(int64_t position) const;
  // True the first time `position` is marked.
  bool MarkDone(int64_t position);
  int64_t done() const;
  std::vector<std::vector<int64_t>> SplitPending(int parts) const;

 private:
  mutable std::mutex mu_;
  std::vector<bool> done_;
  int64_t done_count_ = 0;
};

// A ChunkedWork whose chunks are done exactly when their record is on shared
// storage (generate, score, pairs): the ledger, the count of what an earlier
// attempt finished, and the check of a reported chunk, written once. A kind
// says how to recognise a finished chunk and where its record should be.
class RecordedChunkWork : public ChunkedWork {
 public:
  explicit RecordedChunkWork(int64_t chunks) : ledger_(chunks) {}

  int64_t total_chunks() const override { return ledger_.size(); }
  int64_t done_chunks() const override { return ledger_.done(); }
  std::vector<std::vector<int64_t>> SplitPending(int parts) const override { return ledger_.SplitPending(parts); }
  // Marks the chunks an earlier attempt finished.
  void CountFinished();
  // FailedPrecondition naming MissingRecord when the chunk is not finished.
  absl::StatusOr<WorkProgress> ChunkDone(int rank, int64_t position, int64_t items, int64_t failed_items) override;

 protected:
  // Whether chunk `position` (inside the plan) has its record and files.
  virtual bool Finished(int64_t position) const = 0;
  // "chunk 3 ... runs/gen/generate-state/chunk-00003.json or its latents": for the error.
  virtual std::string MissingRecord(int64_t position) const = 0;

 private:
  ChunkLedger ledger_;
};

}  // namespace align::coordinator
