#pragma once
// `type: train` (job_kind.h): the coordinator plans which pairs every rank
// trains at every step (JobPlan) and streams that plan in PlanChunks, a
// little ahead of the steps rank 0 reports, with curriculum StageBoundaries
// before the chunks that reach them; a stage is announced as an event once,
// when the job first reports a step in it. Completion records the final step
// and checkpoint.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class TrainJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kTrain; }
  std::string name() const override { return "train"; }
  // The UNet's config parses and the dataset's pairs fit it.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  int64_t SubmittedTotalSteps(const JobSpec& spec) const override { return spec.steps; }
  // InvalidArgument naming the field when the dataset cannot be planned.
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
