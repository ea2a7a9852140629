#include "worker/runner/chunked_runner.h"

#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "worker/runner/torch_errors.h"

namespace align::runner {
namespace {

class ChunkedJob : public control::PreparedJob {
 public:
  ChunkedJob(std::unique_ptr<ChunkProcessor> processor, const control::JobTicket& ticket)
      : processor_(std::move(processor)), chunks_(ticket.work_chunks), rank_(ticket.rank), reporter_(ticket.reporter) {}

  int64_t start_step() const override { return 0; }

  control::JobOutcome Run() override {
    control::JobOutcome outcome;
    outcome.end = control::JobEnd::kCompleted;
    for (int64_t position : chunks_) {
      if (reporter_->ShouldStop()) {
        outcome.end = control::JobEnd::kStopped;
        break;
      }
      absl::StatusOr<int64_t> items = absl::InternalError("not run");
      const absl::Status status = CatchTorchErrors([&] {
        items = processor_->Process(position);
        return items.status();
      });
      if (!status.ok()) {
        outcome.end = control::JobEnd::kFailed;
        outcome.message = absl::StrCat("rank ", rank_, ": chunk ", position, ": ", status.message());
        break;
      }
      reporter_->ChunkDone(position, *items, /*failed_items=*/0);
      ++outcome.step;
    }
    return outcome;
  }

 private:
  std::unique_ptr<ChunkProcessor> processor_;
  std::vector<int64_t> chunks_;
  int rank_;
  control::JobReporter* reporter_;
};

}  // namespace

bool ChunkedWorkerKind::WaitForWork(control::JobMailbox& mailbox, const control::Assignment& assignment,
                                    const JobSpec& /*spec*/, std::vector<int64_t>* work_units) const {
  std::optional<std::vector<int64_t>> chunks = mailbox.WaitForWorkChunks(assignment.job_id);
  if (chunks) *work_units = std::move(*chunks);
  return chunks.has_value() || mailbox.StopRequested(assignment.job_id);
}

absl::StatusOr<std::unique_ptr<control::PreparedJob>> ChunkedWorkerKind::SetUp(const control::JobTicket& ticket) const {
  absl::StatusOr<std::unique_ptr<ChunkProcessor>> processor = make_(ticket);
  if (!processor.ok()) return processor.status();
  return std::unique_ptr<control::PreparedJob>(std::make_unique<ChunkedJob>(*std::move(processor), ticket));
}

}  // namespace align::runner
