#include "coordinator/core/pairs_job_kind.h"

#include <filesystem>
#include <map>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/curriculum/generate_layout.h"
#include "common/curriculum/pairs_layout.h"
#include "common/curriculum/score_layout.h"
#include "common/dataset/manifest.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "coordinator/core/chunked_job_run.h"
#include "coordinator/core/chunked_work.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {
namespace {

class PairsWork : public RecordedChunkWork {
 public:
  PairsWork(JobSpec spec, curriculum::PairsLayout layout)
      : RecordedChunkWork(static_cast<int64_t>(layout.plan.chunks.size())),
        spec_(std::move(spec)),
        layout_(std::move(layout)) {}
  std::string Describe() const override {
    return absl::StrCat(layout_.pairs.size(), " pairs from ", layout_.prompts, " prompts (train ",
                        layout_.plan.train_items, ", heldout ", layout_.plan.heldout_items, ") in ", total_chunks(),
                        " shards");
  }

  FinishedJob Finish() override {
    FinishedJob finished;
    finished.final_step = total_chunks();
    absl::StatusOr<data::Manifest> manifest = curriculum::FinishPairsDataset(spec_, layout_);
    if (!manifest.ok()) {
      finished.result = {false, absl::StrCat("cannot finish the dataset: ", manifest.status().message())};
      return finished;
    }
    std::map<int64_t, int64_t> per_stage;
    for (const curriculum::PlannedPair& pair : layout_.pairs) ++per_stage[pair.stage];
    std::vector<std::string> stages;
    for (const auto& [stage, count] : per_stage) stages.push_back(absl::StrCat(stage, ": ", count));
    const std::string summary =
        absl::StrCat(layout_.pairs.size(), " pairs (train ", manifest->splits.at("train").pairs, ", heldout ",
                     manifest->splits.at("heldout").pairs, ") from ", layout_.prompts, " prompts; by stage {",
                     absl::StrJoin(stages, ", "), "}");
    finished.events.push_back({"report", summary});
    finished.result = {true, absl::StrCat("paired ", summary, "; dataset ", spec_.dataset)};
    return finished;
  }

 protected:
  bool Finished(int64_t position) const override {
    return curriculum::FinishedPairsChunk(layout_, layout_.plan.chunks[position]).has_value();
  }
  std::string MissingRecord(int64_t position) const override {
    const prepare::WorkChunk& chunk = layout_.plan.chunks[position];
    return absl::StrCat("shard ", chunk.ShardFile(), "'s record ", layout_.state_dir, "/", chunk.RecordFile(),
                        " or the shard");
  }

 private:
  const JobSpec spec_;
  const curriculum::PairsLayout layout_;
};

}  // namespace

absl::Status PairsJobKind::CheckSubmitted(const JobSpec& resolved) const {
  RETURN_IF_ERROR(CheckReadableFile(absl::StrCat(resolved.pairs->generated, "/", curriculum::kGenerateIndexFile),
                                    "pairs.generated"));
  RETURN_IF_ERROR(
      CheckReadableFile(absl::StrCat(resolved.pairs->scores, "/", curriculum::kScoresFile), "pairs.scores"));
  return CheckOutputDirectory(resolved.dataset, "dataset");
}

absl::StatusOr<std::unique_ptr<JobRun>> PairsJobKind::Plan(JobToPlan job) const {
  JobSpec spec = ResolveJobPaths(std::move(job.spec), job.base_dir);
  ASSIGN_OR_RETURN(curriculum::PairsLayout layout, curriculum::LayOutPairsJob(spec));
  std::error_code ec;
  const bool has_manifest = std::filesystem::exists(absl::StrCat(spec.dataset, "/", data::kManifestFile), ec);
  if (has_manifest && !RunFingerprintMatches(layout.state_dir, layout.fingerprint)) {
    return absl::AlreadyExistsError(absl::StrCat("dataset: ", spec.dataset, " already holds a dataset (",
                                                 data::kManifestFile,
                                                 ") that this job did not write; choose another dataset path"));
  }
  RETURN_IF_ERROR(CheckOrWriteRunFingerprint(layout.state_dir, layout.fingerprint, "pairs",
                                             {{"pairs", layout.pairs.size()}, {"shards", layout.plan.chunks.size()}}));
  auto work = std::make_unique<PairsWork>(std::move(spec), std::move(layout));
  work->CountFinished();
  return MakeChunkedJobRun(std::move(job.job_id), std::move(work), job.world_size);
}

}  // namespace align::coordinator
