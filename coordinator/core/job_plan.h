#pragma once
// A job's plan as the coordinator streams it. A train job: the spec's planner
// (common/plan/step_planner.h) for the group's world size, cut into
// PlanChunks per rank and StageBoundary announcements; it reads the dataset's
// manifest (and, with a curriculum, the per-pair difficulties) from shared
// storage, never latents. A prepare job: its PrepareWork, whose "steps" are
// work chunks.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "common/plan/step_planner.h"
#include "coordinator/core/job_record.h"
#include "coordinator/core/prepare_work.h"
#include "coordinator/core/worker_messages.h"

namespace align::coordinator {

class JobPlan {
 public:
  // InvalidArgument naming the field when the spec does not parse or its
  // dataset (train) or input (prepare) cannot be planned.
  static absl::StatusOr<std::unique_ptr<JobPlan>> Create(const JobRecord& job, int world_size);
  // For tests: a plan over an existing planner.
  JobPlan(std::string job_id, JobSpec spec, std::unique_ptr<plan::StepPlanner> planner)
      : job_id_(std::move(job_id)), spec_(std::move(spec)), planner_(std::move(planner)) {}

  const std::string& job_id() const { return job_id_; }
  const JobSpec& spec() const { return spec_; }
  bool has_plan() const { return planner_ != nullptr; }
  // Shared: the scheduler reads records through it outside its lock.
  const std::shared_ptr<PrepareWork>& prepare_work() const { return prepare_work_; }
  int64_t total_steps() const { return prepare_work_ ? prepare_work_->total_chunks() : spec_.steps; }
  int64_t num_stages() const { return planner_ ? planner_->num_stages() : 1; }
  int64_t StageOf(int64_t step) const { return planner_ ? planner_->StageOf(step) : 0; }
  int64_t StageStart(int64_t stage) const { return planner_ ? planner_->StageStart(stage) : 0; }

  // `rank`'s micro-batches for steps [first, end).
  PlanChunkOut Chunk(int rank, int64_t first, int64_t end) const;
  // With a curriculum: the stages that start in [first, end), in order.
  std::vector<StageBoundaryOut> StagesStartingIn(int64_t first, int64_t end) const;

 private:
  std::string job_id_;
  JobSpec spec_;
  std::unique_ptr<plan::StepPlanner> planner_;  // null: no plan (not a train job)
  std::shared_ptr<PrepareWork> prepare_work_;    // a prepare job's
};

}  // namespace align::coordinator
