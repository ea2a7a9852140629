#include "coordinator/core/chunked_job_run.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace align::coordinator {
namespace {

class ChunkedJobRun : public JobRun {
 public:
  ChunkedJobRun(std::string job_id, std::unique_ptr<ChunkedWork> work, int world_size)
      : JobRun(std::move(job_id)), work_(std::move(work)), world_size_(world_size) {}

  int64_t total_steps() const override { return work_->total_chunks(); }
  int64_t start_step() const override { return work_->done_chunks(); }

  RunUpdate Start(const RankSinks& sinks) override {
    RunUpdate update;
    const std::vector<std::vector<int64_t>> parts = work_->SplitPending(world_size_);
    for (int rank = 0; rank < static_cast<int>(sinks.size()) && rank < world_size_; ++rank) {
      if (!sinks[rank]) continue;
      sinks[rank]->Enqueue(WorkChunksOut{job_id(), parts[rank], work_->total_chunks()});
      ++update.messages_queued;
    }
    update.planned_size = PlannedSize{work_->total_chunks(), work_->done_chunks()};
    update.events.push_back({"planned", absl::StrCat(work_->Describe(), ", ", work_->done_chunks(),
                                                     " already done, split over ", world_size_, " ranks")});
    return update;
  }

  // Its work went out at Start; reported steps change nothing.
  RunUpdate Progressed(const RankSinks& /*sinks*/, int64_t /*reported_step*/, bool /*stopping*/) override { return {}; }

  absl::StatusOr<WorkProgress> ChunkDone(int rank, int64_t position, int64_t items, int64_t failed_items) override {
    return work_->ChunkDone(rank, position, items, failed_items);
  }

  FinishedJob Finish(const JobCompletion& /*completion*/) override { return work_->Finish(); }

 private:
  // Shared storage is read outside the Scheduler's lock (ChunkDone); the
  // work guards its own counts.
  const std::unique_ptr<ChunkedWork> work_;
  const int world_size_;
};

}  // namespace

std::unique_ptr<JobRun> MakeChunkedJobRun(std::string job_id, std::unique_ptr<ChunkedWork> work, int world_size) {
  return std::make_unique<ChunkedJobRun>(std::move(job_id), std::move(work), world_size);
}

}  // namespace align::coordinator
