#include "coordinator/core/generate_job_kind.h"

#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/generate_layout.h"
#include "common/curriculum/prompt_list.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "coordinator/core/chunked_job_run.h"
#include "coordinator/core/chunked_work.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {
namespace {

class GenerateWork : public RecordedChunkWork {
 public:
  explicit GenerateWork(curriculum::GenerateLayout layout)
      : RecordedChunkWork(layout.num_chunks()), layout_(std::move(layout)) {}
  std::string Describe() const override {
    return absl::StrCat(layout_.prompts.size(), " prompts x ", layout_.samples_per_prompt, " samples in ",
                        total_chunks(), " chunks");
  }

  FinishedJob Finish() override {
    FinishedJob finished;
    finished.final_step = total_chunks();
    if (absl::Status index = curriculum::WriteGenerateIndex(layout_); !index.ok()) {
      finished.result = {false, absl::StrCat("cannot write the index: ", index.message())};
      return finished;
    }
    const int64_t images = static_cast<int64_t>(layout_.prompts.size()) * layout_.samples_per_prompt;
    finished.result = {true, absl::StrCat("generated ", images, " images for ", layout_.prompts.size(),
                                          " prompts; index ", layout_.output, "/", curriculum::kGenerateIndexFile)};
    return finished;
  }

 protected:
  bool Finished(int64_t position) const override {
    return curriculum::FinishedGenerateChunk(layout_, position).has_value();
  }
  std::string MissingRecord(int64_t position) const override {
    return absl::StrCat("chunk ", position, "'s record ", layout_.RecordPath(position), " or its latents");
  }

 private:
  const curriculum::GenerateLayout layout_;
};

}  // namespace

absl::Status GenerateJobKind::CheckSubmitted(const JobSpec& resolved) const {
  RETURN_IF_ERROR(CheckSamplingModel(resolved.model));
  RETURN_IF_ERROR(CheckReadableFile(resolved.generate->prompts, "generate.prompts"));
  // Read once here too, so an empty or malformed prompt file is refused at
  // submit rather than when a group takes the job.
  absl::StatusOr<std::vector<std::string>> prompts = curriculum::ReadPrompts(resolved.generate->prompts);
  if (!prompts.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("generate.prompts: ", prompts.status().message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<JobRun>> GenerateJobKind::Plan(JobToPlan job) const {
  const JobSpec spec = ResolveJobPaths(std::move(job.spec), job.base_dir);
  ASSIGN_OR_RETURN(curriculum::GenerateLayout layout, curriculum::LayOutGenerateJob(spec));
  RETURN_IF_ERROR(CheckOrWriteRunFingerprint(
      layout.state_dir(), layout.fingerprint, "generate",
      {{"prompts", layout.prompts.size()}, {"samples_per_prompt", layout.samples_per_prompt},
       {"chunks", layout.num_chunks()}}));
  auto work = std::make_unique<GenerateWork>(std::move(layout));
  work->CountFinished();
  return MakeChunkedJobRun(std::move(job.job_id), std::move(work), job.world_size);
}

}  // namespace align::coordinator
