#include "worker/runner/prepare_runner.h"

#include <cstddef>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "worker/prepare/prepare_job.h"
#include "worker/runner/torch_errors.h"

namespace align::runner {

namespace {

class PrepareRunner : public control::PreparedJob {
 public:
  PrepareRunner(JobSpec spec, const control::JobTicket& ticket)
      : spec_(std::move(spec)),
        chunks_(ticket.work_chunks.begin(), ticket.work_chunks.end()),
        rank_(ticket.rank),
        world_(ticket.world_size),
        reporter_(ticket.reporter) {}

  int64_t start_step() const override { return 0; }

  control::JobOutcome Run() override {
    int64_t chunks_done = 0;
    prepare::PrepareContext context;
    context.rank = rank_;
    context.world = world_;
    context.out = &std::cout;
    context.assigned_chunks = chunks_;
    context.on_chunk_done = [&](size_t position, const prepare::ChunkRecord& record) {
      ++chunks_done;
      reporter_->ChunkDone(static_cast<int64_t>(position), record.pairs, static_cast<int64_t>(record.problems.size()));
    };
    context.should_stop = [this] { return reporter_->ShouldStop(); };
    const absl::Status status = CatchTorchErrors([&] { return prepare::RunPrepareJob(spec_, context); });
    control::JobOutcome outcome;
    outcome.step = chunks_done;
    if (status.ok()) {
      outcome.end = control::JobEnd::kCompleted;
    } else {
      outcome.end = absl::IsCancelled(status) ? control::JobEnd::kStopped : control::JobEnd::kFailed;
      outcome.message = absl::StrCat("rank ", rank_, ": ", status.message());
    }
    return outcome;
  }

 private:
  JobSpec spec_;
  std::vector<size_t> chunks_;
  int rank_;
  int world_;
  control::JobReporter* reporter_;
};

}  // namespace

bool PrepareWorkerKind::WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment,
                                    const JobSpec& /*spec*/, std::vector<int64_t>* work_units) const {
  std::optional<std::vector<int64_t>> chunks = mailbox.WaitForWorkChunks(assignment.job_id);
  if (chunks) *work_units = std::move(*chunks);
  return chunks.has_value() || mailbox.StopRequested(assignment.job_id);
}

absl::StatusOr<std::unique_ptr<control::PreparedJob>> PrepareWorkerKind::SetUp(
    const control::JobTicket& ticket) const {
  absl::StatusOr<JobSpec> spec = SpecOnJobDevice(device_, ticket.spec);
  if (!spec.ok()) return spec.status();
  return std::unique_ptr<control::PreparedJob>(std::make_unique<PrepareRunner>(*std::move(spec), ticket));
}

}  // namespace align::runner
