#pragma once
// `type: pairs` (docs/curriculum.md): per prompt, the scored candidates
// ranked and paired with their difficulty (pair_builder.h), written as a
// prepared dataset that reuses the generated latents. The coordinator plans
// the pairs and the shards from the generate index and the scores (small JSON
// files); ranks copy latents into the shards chunk by chunk
// (chunked_work.h); the coordinator writes the manifest when all are done.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class PairsJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kPairs; }
  std::string name() const override { return "pairs"; }
  // The generate and score outputs, and a dataset directory it can write.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  int64_t SubmittedTotalSteps(const JobSpec& /*spec*/) const override { return 0; }
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
