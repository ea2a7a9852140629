#pragma once
// A prepare job as the coordinator runs it (docs/data-preparation.md): it
// indexes the input and plans the chunks exactly as the ranks will, writes the
// plan state, splits the unfinished chunks over the group's ranks, counts the
// chunks they report, and, when the group completes, writes the report and the
// manifest from the chunk records. It reads captions, labels and small JSON
// records from shared storage; never images or latents.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/prepare_layout.h"
#include "common/prepare/prepare_report.h"
#include "coordinator/core/chunked_work.h"

namespace align::coordinator {

class PrepareWork {
 public:
  // `spec` is a prepare job with its paths resolved. Errors name the problem:
  // an input that cannot be indexed, a dataset directory that holds another
  // job's dataset, a state directory from a different configuration.
  static absl::StatusOr<std::unique_ptr<PrepareWork>> Create(JobSpec spec);

  int64_t total_chunks() const { return static_cast<int64_t>(layout_.plan.chunks.size()); }
  int64_t done_chunks() const { return totals().chunks; }
  const std::string& dataset() const { return spec_.dataset; }

  // Over the finished chunks.
  struct Totals {
    int64_t chunks = 0;
    int64_t pairs = 0;
    int64_t failed_items = 0;
  };
  Totals totals() const;

  // The unfinished chunks' positions, cut into `parts` contiguous, balanced
  // parts (contiguous, so a rank reads a contiguous stretch of each tar).
  std::vector<std::vector<int64_t>> SplitPending(int parts) const;

  // A rank reports chunk `position` finished: InvalidArgument for a position
  // outside the plan, FailedPrecondition when its record or shard is missing.
  absl::StatusOr<prepare::ChunkRecord> MarkDone(int64_t position);

  // Every chunk done: the report (always) and the manifest (when the error
  // ratio allows). The caller fails the job when !report.ok().
  absl::StatusOr<prepare::PrepareReport> Finish();

 private:
  PrepareWork(JobSpec spec, prepare::PrepareLayout layout)
      : spec_(std::move(spec)), layout_(std::move(layout)), ledger_(static_cast<int64_t>(layout_.plan.chunks.size())) {}

  const JobSpec spec_;
  const prepare::PrepareLayout layout_;
  // Counts `record` as chunk `position`'s, once.
  void CountLocked(int64_t position, const prepare::ChunkRecord& record);

  ChunkLedger ledger_;  // which chunks are done
  mutable std::mutex mu_;
  Totals totals_;
};

}  // namespace align::coordinator
