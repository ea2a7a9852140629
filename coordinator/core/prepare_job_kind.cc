#include "coordinator/core/prepare_job_kind.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/prepare_report.h"
#include "common/status_macros.h"
#include "coordinator/core/chunked_job_run.h"
#include "coordinator/core/chunked_work.h"
#include "coordinator/core/log.h"
#include "coordinator/core/storage_checks.h"
#include "coordinator/core/prepare_work.h"

namespace align::coordinator {

namespace {

// "train-3: 2 of 8 items failed: a.jpg (decode: ...); ...": the first few.
std::string FailedItemsEvent(const prepare::ChunkRecord& record) {
  std::string listed;
  const size_t shown = std::min<size_t>(record.problems.size(), 3);
  for (size_t i = 0; i < shown; ++i) {
    const prepare::ItemProblem& p = record.problems[i];
    absl::StrAppend(&listed, i == 0 ? "" : "; ", p.where, " (", p.reason, ": ", p.detail, ")");
  }
  return absl::StrCat(record.split, "-", record.index, ": ", record.problems.size(), " of ", record.items,
                      " items failed: ", listed, record.problems.size() > shown ? "; ..." : "");
}

// PrepareWork (its chunk ledger, records and report) as the ChunkedWork the
// shared chunked JobRun drives.
class PrepareChunkedWork : public ChunkedWork {
 public:
  PrepareChunkedWork(std::string job_id, std::unique_ptr<PrepareWork> work)
      : job_id_(std::move(job_id)), work_(std::move(work)) {}

  int64_t total_chunks() const override { return work_->total_chunks(); }
  int64_t done_chunks() const override { return work_->done_chunks(); }
  std::vector<std::vector<int64_t>> SplitPending(int parts) const override { return work_->SplitPending(parts); }
  std::string Describe() const override { return absl::StrCat(work_->total_chunks(), " chunks"); }

  absl::StatusOr<WorkProgress> ChunkDone(int rank, int64_t position, int64_t pairs, int64_t failed_items) override {
    // The record on shared storage is the truth; the message's counts are
    // only checked against it.
    ASSIGN_OR_RETURN(const prepare::ChunkRecord record, work_->MarkDone(position));
    if (record.pairs != pairs || static_cast<int64_t>(record.problems.size()) != failed_items) {
      LogLine(absl::StrCat(job_id_, ": rank ", rank, " reported ", pairs, " pairs / ", failed_items, " failed items for chunk ",
                           position, ", its record says ", record.pairs, " / ", record.problems.size()));
    }
    const PrepareWork::Totals totals = work_->totals();
    WorkProgress progress;
    progress.steps_done = totals.chunks;
    progress.metrics["pairs"] = static_cast<double>(totals.pairs);
    progress.metrics["failed_items"] = static_cast<double>(totals.failed_items);
    if (!record.problems.empty()) progress.events.push_back({"items_failed", FailedItemsEvent(record)});
    return progress;
  }

  FinishedJob Finish() override {
    FinishedJob finished;
    finished.final_step = work_->total_chunks();
    absl::StatusOr<prepare::PrepareReport> report = work_->Finish();
    if (!report.ok()) {
      finished.result = {false, absl::StrCat("cannot finish the dataset: ", report.status().message())};
      return finished;
    }
    const std::string summary =
        absl::StrCat(report->total, " items: ", report->pairs_written(), " pairs (train ", report->pairs.at("train"),
                     ", heldout ", report->pairs.at("heldout"), "), ", report->ties, " ties dropped, ", report->swapped,
                     " swapped, ", report->failed, " failed, ", report->captions_truncated, " captions truncated");
    finished.events.push_back({"report", summary});
    if (!report->ok()) {
      finished.result = {false, prepare::FailureMessage(*report)};
    } else {
      finished.result = {true, absl::StrCat("prepared ", summary, "; dataset ", work_->dataset())};
    }
    return finished;
  }

 private:
  const std::string job_id_;
  const std::unique_ptr<PrepareWork> work_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobRun>> PrepareJobKind::Plan(JobToPlan job) const {
  ASSIGN_OR_RETURN(std::unique_ptr<PrepareWork> work,
                   PrepareWork::Create(ResolveJobPaths(std::move(job.spec), job.base_dir)));
  auto chunked = std::make_unique<PrepareChunkedWork>(job.job_id, std::move(work));
  return MakeChunkedJobRun(std::move(job.job_id), std::move(chunked), job.world_size);
}

absl::Status PrepareJobKind::CheckSubmitted(const JobSpec& resolved) const {
  RETURN_IF_ERROR(CheckEncoderModel(resolved.model));
  RETURN_IF_ERROR(CheckPrepareInput(*resolved.prepare));
  return CheckOutputDirectory(resolved.dataset, "dataset");
}

}  // namespace align::coordinator
