#pragma once
// `type: evaluate` (docs/evaluation.md): every checkpoint samples the same
// prompts x seeds from the same noise, every image is scored by every reward
// and embedded, chunk by chunk over the group's ranks (chunked_work.h). When
// every chunk is done the coordinator computes the figures from the stored
// per-image records (common/evaluation), writes report.json, the contact
// sheet and the scatter plot, and exports the figures on /metrics.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "coordinator/core/job_kind.h"

namespace align::coordinator {

class EvaluateJobKind : public JobKind {
 public:
  JobType type() const override { return JobType::kEvaluate; }
  std::string name() const override { return "evaluate"; }
  // Every checkpoint's model and UNet, every reward's folder, the embedder, the prompts.
  absl::Status CheckSubmitted(const JobSpec& resolved) const override;
  // Its chunks are counted when it is planned.
  int64_t SubmittedTotalSteps(const JobSpec& /*spec*/) const override { return 0; }
  absl::StatusOr<std::unique_ptr<JobRun>> Plan(JobToPlan job) const override;
};

}  // namespace align::coordinator
