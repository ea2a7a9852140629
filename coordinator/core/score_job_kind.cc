#include "coordinator/core/score_job_kind.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <optional>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/score_layout.h"
#include "common/reward_name.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "coordinator/core/chunked_job_run.h"
#include "coordinator/core/chunked_work.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {
namespace {

class ScoreWork : public RecordedChunkWork {
 public:
  explicit ScoreWork(curriculum::ScoreLayout layout)
      : RecordedChunkWork(layout.num_chunks()), layout_(std::move(layout)) {}
  std::string Describe() const override {
    return absl::StrCat(layout_.items.size(), " images scored by ", std::string(RewardNameString(layout_.reward)), " in ",
                        total_chunks(), " chunks");
  }

  FinishedJob Finish() override {
    FinishedJob finished;
    finished.final_step = total_chunks();
    if (absl::Status written = curriculum::WriteScores(layout_); !written.ok()) {
      finished.result = {false, absl::StrCat("cannot write the scores: ", written.message())};
      return finished;
    }
    double sum = 0, lo = std::numeric_limits<double>::infinity(), hi = -lo;
    int64_t n = 0;
    for (int64_t chunk = 0; chunk < total_chunks(); ++chunk) {
      if (std::optional<curriculum::ScoreChunkRecord> record = curriculum::FinishedScoreChunk(layout_, chunk)) {
        for (double s : record->scores) {
          sum += s;
          lo = std::min(lo, s);
          hi = std::max(hi, s);
          ++n;
        }
      }
    }
    const std::string summary = absl::StrFormat("%d images, %s mean %.6g (min %.6g, max %.6g)", n,
                                                std::string(RewardNameString(layout_.reward)), n > 0 ? sum / n : 0.0, lo, hi);
    finished.events.push_back({"report", summary});
    finished.result = {true, absl::StrCat("scored ", summary, "; scores ", layout_.output, "/",
                                          curriculum::kScoresFile)};
    return finished;
  }

 protected:
  bool Finished(int64_t position) const override {
    return curriculum::FinishedScoreChunk(layout_, position).has_value();
  }
  std::string MissingRecord(int64_t position) const override {
    return absl::StrCat("chunk ", position, "'s record ", layout_.RecordPath(position));
  }

 private:
  const curriculum::ScoreLayout layout_;
};

}  // namespace

absl::Status ScoreJobKind::CheckSubmitted(const JobSpec& resolved) const {
  RETURN_IF_ERROR(CheckRewardModelFolder(resolved.score->reward, resolved.score->reward_model, "score.reward_model"));
  std::error_code ec;
  if (std::filesystem::is_directory(resolved.score->images, ec)) {
    return CheckReadableFile(absl::StrCat(resolved.score->images, "/index.jsonl"), "score.images");
  }
  return CheckReadableFile(resolved.score->images, "score.images");
}

absl::StatusOr<std::unique_ptr<JobRun>> ScoreJobKind::Plan(JobToPlan job) const {
  const JobSpec spec = ResolveJobPaths(std::move(job.spec), job.base_dir);
  ASSIGN_OR_RETURN(curriculum::ScoreLayout layout, curriculum::LayOutScoreJob(spec));
  RETURN_IF_ERROR(CheckOrWriteRunFingerprint(layout.state_dir(), layout.fingerprint, "score",
                                             {{"images", layout.items.size()}, {"chunks", layout.num_chunks()}}));
  auto work = std::make_unique<ScoreWork>(std::move(layout));
  work->CountFinished();
  return MakeChunkedJobRun(std::move(job.job_id), std::move(work), job.world_size);
}

}  // namespace align::coordinator
