#pragma once
// A train job's plan as the coordinator streams it (train_job_kind.h): the
// spec's planner (common/plan/step_planner.h) for the group's world size, cut
// into PlanChunks per rank and StageBoundary announcements. It reads the
// dataset's manifest (and, with a curriculum, the per-pair difficulties) from
// shared storage, never latents.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/plan/step_planner.h"
#include "coordinator/core/worker_messages.h"

namespace align::coordinator {

class JobPlan {
 public:
  // `spec` as submitted: its dataset is resolved against `base_dir`. Errors
  // name the field when the dataset cannot be planned.
  static absl::StatusOr<std::unique_ptr<JobPlan>> Create(std::string job_id, JobSpec spec,
                                                         const std::string& base_dir, int world_size);
  // For tests: a plan over an existing planner.
  JobPlan(std::string job_id, JobSpec spec, std::unique_ptr<plan::StepPlanner> planner)
      : job_id_(std::move(job_id)), spec_(std::move(spec)), planner_(std::move(planner)) {}

  const std::string& job_id() const { return job_id_; }
  const JobSpec& spec() const { return spec_; }
  int64_t total_steps() const { return spec_.steps; }
  int64_t num_stages() const { return planner_->num_stages(); }
  int64_t StageOf(int64_t step) const { return planner_->StageOf(step); }
  int64_t StageStart(int64_t stage) const { return planner_->StageStart(stage); }

  // `rank`'s micro-batches for steps [first, end).
  PlanChunkOut Chunk(int rank, int64_t first, int64_t end) const;
  // With a curriculum: the stages that start in [first, end), in order.
  std::vector<StageBoundaryOut> StagesStartingIn(int64_t first, int64_t end) const;

 private:
  std::string job_id_;
  JobSpec spec_;
  std::unique_ptr<plan::StepPlanner> planner_;
};

}  // namespace align::coordinator
