#include "coordinator/core/prepare_work.h"

#include <filesystem>
#include <optional>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/manifest.h"
#include "common/prepare/dataset_finish.h"
#include "common/prepare/prepare_state.h"
#include "common/status_macros.h"

namespace align::coordinator {

namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<PrepareWork>> PrepareWork::Create(JobSpec spec) {
  ASSIGN_OR_RETURN(prepare::PrepareLayout layout, prepare::LayOutPrepareJob(spec));
  const bool has_manifest = fs::exists(absl::StrCat(spec.dataset, "/", data::kManifestFile));
  if (has_manifest && !prepare::PlanStateMatches(layout.state_dir, layout.fingerprint)) {
    return absl::AlreadyExistsError(absl::StrCat("dataset: ", spec.dataset, " already holds a dataset (",
                                                 data::kManifestFile,
                                                 ") that this job did not write; choose another dataset path"));
  }
  RETURN_IF_ERROR(prepare::CheckOrWritePlanState(layout.state_dir, layout.fingerprint, layout.plan));
  std::error_code ec;
  fs::create_directories(spec.dataset, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("dataset: cannot create ", spec.dataset, ": ", ec.message()));

  auto work = std::unique_ptr<PrepareWork>(new PrepareWork(std::move(spec), std::move(layout)));
  std::lock_guard<std::mutex> lock(work->mu_);
  for (size_t i = 0; i < work->layout_.plan.chunks.size(); ++i) {
    const prepare::WorkChunk& chunk = work->layout_.plan.chunks[i];
    if (std::optional<prepare::ChunkRecord> record = prepare::FinishedChunkRecord(work->spec_, work->layout_, chunk)) {
      work->CountLocked(static_cast<int64_t>(i), *record);
    }
  }
  return work;
}

PrepareWork::Totals PrepareWork::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

void PrepareWork::CountLocked(int64_t position, const prepare::ChunkRecord& record) {
  if (!ledger_.MarkDone(position)) return;
  ++totals_.chunks;
  totals_.pairs += record.pairs;
  totals_.failed_items += static_cast<int64_t>(record.problems.size());
}

std::vector<std::vector<int64_t>> PrepareWork::SplitPending(int parts) const { return ledger_.SplitPending(parts); }

absl::StatusOr<prepare::ChunkRecord> PrepareWork::MarkDone(int64_t position) {
  RETURN_IF_ERROR(ledger_.CheckPosition(position));
  const prepare::WorkChunk& chunk = layout_.plan.chunks[position];
  std::optional<prepare::ChunkRecord> record = prepare::FinishedChunkRecord(spec_, layout_, chunk);
  if (!record) {
    return absl::FailedPreconditionError(absl::StrCat("chunk ", chunk.ShardFile(), " was reported done, but ",
                                                      layout_.state_dir, "/", chunk.RecordFile(),
                                                      " or its shard is not there (is the storage shared?)"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  CountLocked(position, *record);
  return *record;
}

absl::StatusOr<prepare::PrepareReport> PrepareWork::Finish() {
  return prepare::FinishPreparedDataset(spec_, layout_);
}

}  // namespace align::coordinator
