#pragma once
// `type: generate` (docs/curriculum.md): prompts x samples_per_prompt images
// with their final latents and text conditioning, chunk by chunk over the
// group's ranks (chunked_work.h); when every chunk is done the coordinator
// writes the output's index.jsonl from the chunk records.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class GenerateJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kGenerate; }
  std::string name() const override { return "generate"; }
  // The sampling model's files and the prompt file.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  // Its chunks are counted when it is planned.
  int64_t SubmittedTotalSteps(const JobSpec& /*spec*/) const override { return 0; }
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
