#include "coordinator/core/train_job_kind.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "coordinator/core/job_plan.h"
#include "coordinator/core/storage_checks.h"

namespace align::coordinator {

namespace {

// The highest stage a job's events already announce (-1: none), so a resumed
// job does not announce a stage twice.
int64_t AnnouncedStage(const std::vector<JobEventRecord>& history) {
  int64_t stage = -1;
  for (const JobEventRecord& event : history) {
    long long value = 0;
    if (event.kind == "stage" && std::sscanf(event.message.c_str(), "stage %lld", &value) == 1) {
      stage = std::max<int64_t>(stage, value);
    }
  }
  return stage;
}

// The data settings a job's events record once, at its first start: prompt
// dropout (with the curriculum it runs under). Empty when the job drops no
// prompts, or when an earlier attempt already recorded them.
std::string DataSettingsEvent(const JobSpec& spec, const std::vector<JobEventRecord>& history) {
  if (spec.data.prompt_dropout <= 0) return "";
  for (const JobEventRecord& event : history) {
    if (event.kind == "data") return "";
  }
  std::string message = absl::StrCat("prompt_dropout ", spec.data.prompt_dropout,
                                     " (the empty prompt, drawn per pair and step)");
  if (spec.curriculum) {
    absl::StrAppend(&message, "; curriculum ", spec.curriculum->stages, " stages of ",
                    spec.curriculum->steps_per_stage, " steps");
  }
  return message;
}

class TrainJobRun : public JobRun {
 public:
  TrainJobRun(std::unique_ptr<JobPlan> plan, int64_t resume_step, int64_t announced_stage, PlanStreaming streaming,
              std::string data_settings)
      : JobRun(plan->job_id()),
        data_settings_(std::move(data_settings)),
        plan_(std::move(plan)),
        streaming_(streaming),
        resume_step_(resume_step),
        planned_until_(resume_step),
        announced_stage_(announced_stage) {}

  int64_t total_steps() const override { return plan_->total_steps(); }
  int64_t start_step() const override { return resume_step_; }
  int64_t planned_until() const override { return planned_until_; }
  bool shows_training_steps() const override { return true; }

  RunUpdate Start(const RankSinks& sinks) override {
    RunUpdate update;
    if (!data_settings_.empty()) update.events.push_back({"data", data_settings_});
    // The stage the job resumes in, when it started before the resume step
    // (later boundaries go out with the chunks that reach them).
    if (plan_->num_stages() > 1) {
      const int64_t stage = plan_->StageOf(resume_step_);
      if (plan_->StageStart(stage) < resume_step_) {
        for (const auto& sink : sinks) {
          if (!sink) continue;
          sink->Enqueue(StageBoundaryOut{job_id(), static_cast<int>(stage), plan_->StageStart(stage)});
          ++update.messages_queued;
        }
      }
    }
    update.messages_queued += TopUp(sinks, resume_step_);
    return update;
  }

  RunUpdate Progressed(const RankSinks& sinks, int64_t reported_step, bool stopping) override {
    RunUpdate update;
    if (plan_->num_stages() > 1) {
      // Step s trains step s-1's batch: the stage in progress is that step's.
      const int64_t stage = plan_->StageOf(std::max<int64_t>(reported_step - 1, 0));
      update.curriculum_stage = stage;
      if (reported_step >= 1 && stage > announced_stage_) {
        announced_stage_ = stage;
        update.events.push_back({"stage", absl::StrCat("stage ", stage, " of ", plan_->num_stages(), " starts at step ",
                                                       plan_->StageStart(stage))});
        update.save_progress_now = true;
      }
    }
    if (!stopping) update.messages_queued += TopUp(sinks, reported_step);
    return update;
  }

  FinishedJob Finish(const JobCompletion& completion) override {
    const JobRecord* record = completion.record;  // null: unknown, so record both
    const int64_t step = completion.step;
    FinishedJob finished;
    if (record == nullptr || record->steps_done < step) finished.final_step = step;
    if (!completion.checkpoint_path.empty() &&
        (record == nullptr || !record->last_checkpoint_step || *record->last_checkpoint_step < step)) {
      finished.final_checkpoint_step = step;
      finished.final_checkpoint_path = completion.checkpoint_path;
    }
    finished.result = {
        true, absl::StrCat("finished step ", step, completion.checkpoint_path.empty() ? "" : "; final checkpoint ",
                           completion.checkpoint_path)};
    return finished;
  }

 private:
  // Queues plan chunks (and the stage boundaries in them) so every rank has
  // plans up to `reported_step` + ahead_steps. Returns the messages queued.
  int64_t TopUp(const RankSinks& sinks, int64_t reported_step) {
    const int64_t total = plan_->total_steps();
    const int64_t target = std::min(total, std::max(reported_step, resume_step_) + streaming_.ahead_steps);
    int64_t sent = 0;
    while (planned_until_ < target) {
      const int64_t end = std::min(total, planned_until_ + streaming_.chunk_steps);
      const std::vector<StageBoundaryOut> stages = plan_->StagesStartingIn(planned_until_, end);
      for (int rank = 0; rank < static_cast<int>(sinks.size()); ++rank) {
        const auto& sink = sinks[rank];
        if (!sink) continue;
        for (const StageBoundaryOut& stage : stages) sink->Enqueue(stage);
        sink->Enqueue(plan_->Chunk(rank, planned_until_, end));
        sent += static_cast<int64_t>(stages.size()) + 1;
      }
      planned_until_ = end;
    }
    return sent;
  }

  const std::string data_settings_;
  const std::unique_ptr<JobPlan> plan_;
  const PlanStreaming streaming_;
  const int64_t resume_step_;
  int64_t planned_until_;
  int64_t announced_stage_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<JobRun>> TrainJobKind::Plan(JobToPlan job) const {
  std::string data_settings = DataSettingsEvent(job.spec, job.history);
  ASSIGN_OR_RETURN(std::unique_ptr<JobPlan> plan,
                   JobPlan::Create(job.job_id, std::move(job.spec), job.base_dir, job.world_size));
  const int64_t announced = plan->num_stages() > 1 ? AnnouncedStage(job.history) : -1;
  return std::make_unique<TrainJobRun>(std::move(plan), job.resume_step, announced, job.streaming,
                                       std::move(data_settings));
}

absl::Status TrainJobKind::CheckSubmitted(const JobSpec& resolved) const {
  ASSIGN_OR_RETURN(const diffusers::UNetConfig unet, CheckTrainModel(resolved.model));
  RETURN_IF_ERROR(CheckTrainDataset(resolved.dataset, resolved, unet, resolved.model));
  if (!resolved.evaluation) return absl::OkStatus();
  // Evaluating samples the policy with the rest of the model folder.
  if (absl::Status sampling = CheckSamplingModel(resolved.model); !sampling.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(sampling.message(), " (evaluate_every samples the policy with the model's other parts)"));
  }
  const TrainEvaluationSpec& e = *resolved.evaluation;
  return CheckEvaluationInputs(e.prompts, e.rewards, e.embedder, "evaluation");
}

}  // namespace align::coordinator
