#pragma once
// `type: prepare` (job_kind.h, docs/data-preparation.md): the coordinator
// plans the work chunks (PrepareWork), gives each rank a contiguous share of
// the unfinished ones at once, counts the chunks the ranks report finished as
// the job's steps (a chunk's failed items become an event), and, when the
// group completes, writes the report and the dataset's manifest itself.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class PrepareJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kPrepare; }
  std::string name() const override { return "prepare"; }
  // The encoders' model files, the input, and a dataset directory it can write.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  // Its chunks are counted when it is planned.
  int64_t SubmittedTotalSteps(const JobSpec& /*spec*/) const override { return 0; }
  // Errors name the problem: an input that cannot be indexed, a dataset
  // directory that holds another job's dataset, ...
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
