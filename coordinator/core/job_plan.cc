#include "coordinator/core/job_plan.h"

#include <utility>

#include "common/status_macros.h"
#include "coordinator/core/spec_check.h"

namespace align::coordinator {

absl::StatusOr<std::unique_ptr<JobPlan>> JobPlan::Create(std::string job_id, JobSpec spec,
                                                         const std::string& base_dir, int world_size) {
  ASSIGN_OR_RETURN(std::unique_ptr<plan::StepPlanner> planner,
                   plan::MakeStepPlanner(spec, ResolveSpecPath(spec.dataset, base_dir), world_size));
  return std::make_unique<JobPlan>(std::move(job_id), std::move(spec), std::move(planner));
}

PlanChunkOut JobPlan::Chunk(int rank, int64_t first, int64_t end) const {
  PlanChunkOut chunk;
  chunk.job_id = job_id_;
  chunk.first_step = first;
  chunk.end_step = end;
  for (int64_t step = first; step < end; ++step) {
    StepPlanOut out;
    out.step = step;
    for (int64_t micro = 0; micro < spec_.batch.grad_accum; ++micro) {
      out.micro_batches.push_back(planner_->PairsFor(step, rank, micro));
    }
    chunk.steps.push_back(std::move(out));
  }
  return chunk;
}

std::vector<StageBoundaryOut> JobPlan::StagesStartingIn(int64_t first, int64_t end) const {
  std::vector<StageBoundaryOut> stages;
  if (planner_->num_stages() <= 1) return stages;
  for (int64_t stage = 0; stage < planner_->num_stages(); ++stage) {
    const int64_t start = planner_->StageStart(stage);
    if (start >= first && start < end) stages.push_back({job_id_, static_cast<int>(stage), start});
  }
  return stages;
}

}  // namespace align::coordinator
