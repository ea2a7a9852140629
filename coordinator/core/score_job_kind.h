#pragma once
// `type: score` (docs/curriculum.md, docs/reward-models.md): a reward model
// over an image set, chunk by chunk over the group's ranks (chunked_work.h);
// when every chunk is done the coordinator writes scores.jsonl from the
// chunk records.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class ScoreJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kScore; }
  std::string name() const override { return "score"; }
  // The reward model's folder and the image set.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  int64_t SubmittedTotalSteps(const JobSpec& /*spec*/) const override { return 0; }
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
