// The progress a train job's hooks keep for its completion: which checkpoint
// the attempt ends with, whether it wrote one or resumed at it.

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "worker/control/job_session.h"
#include "worker/runner/trainer_hooks.h"

namespace align::runner {
namespace {

class RecordingReporter : public control::JobReporter {
 public:
  void Step(const control::StepReport& report) override { steps.push_back(report.step); }
  void Eval(const control::EvalReport& report) override { evals.push_back(report); }
  void Checkpoint(int64_t step, const std::string& dir) override { checkpoints.emplace_back(step, dir); }
  bool ShouldStop() override { return false; }
  void ChunkDone(int64_t /*position*/, int64_t /*pairs*/, int64_t /*failed_items*/) override {}

  std::vector<int64_t> steps;
  std::vector<control::EvalReport> evals;
  std::vector<std::pair<int64_t, std::string>> checkpoints;
};

TEST(TrainerHooks, AFreshAttemptHasNoCheckpoint) {
  const TrainProgress progress = ProgressAtStart("/runs/job", 0);
  EXPECT_EQ(progress.steps_done, 0);
  EXPECT_FALSE(progress.trained);
  EXPECT_EQ(progress.last_checkpoint, "");
}

// An earlier attempt wrote the final checkpoint and was lost before the
// coordinator heard of it: this attempt trains nothing and must still name it.
TEST(TrainerHooks, AResumedAttemptStartsWithTheCheckpointItResumedFrom) {
  const TrainProgress progress = ProgressAtStart("/runs/job", 6);
  EXPECT_EQ(progress.steps_done, 6);
  EXPECT_FALSE(progress.trained);
  EXPECT_EQ(progress.last_checkpoint, "/runs/job/checkpoint-6");
}

TEST(TrainerHooks, ACheckpointWrittenReplacesTheOneResumedFrom) {
  RecordingReporter reporter;
  TrainProgress progress = ProgressAtStart("/runs/job", 2);
  engine::TrainerHooks hooks = ReportingHooks(reporter, progress);
  engine::StepMetrics m;
  m.step = 3;
  hooks.on_step(m);
  m.step = 4;
  hooks.on_step(m);
  hooks.on_checkpoint(4, "/runs/job/checkpoint-4");
  EXPECT_EQ(progress.steps_done, 4);
  EXPECT_TRUE(progress.trained);
  EXPECT_EQ(progress.last_checkpoint, "/runs/job/checkpoint-4");
  EXPECT_EQ(reporter.steps, (std::vector<int64_t>{3, 4}));
  ASSERT_EQ(reporter.checkpoints.size(), 1u);
  EXPECT_EQ(reporter.checkpoints[0].first, 4);
}

// An evaluation during training goes out as an evaluation report, its
// figures under common/step_metrics.h's names (the coordinator's gauges key on them).
TEST(TrainerHooks, AnEvaluationDuringTrainingIsReportedWithItsFiguresByName) {
  RecordingReporter reporter;
  TrainProgress progress = ProgressAtStart("/runs/job", 0);
  engine::TrainerHooks hooks = ReportingHooks(reporter, progress);
  engine::TrainEvaluation e;
  e.step = 4;
  e.prompts = 3;
  e.seeds = 2;
  e.rewards = {{"pickscore", 21.5, 0.25}, {"clipscore", 30.0, 1.5}};
  e.diversity = 0.125;
  hooks.on_evaluation(e);
  ASSERT_EQ(reporter.evals.size(), 1u);
  EXPECT_EQ(reporter.evals[0].step, 4);
  const std::map<std::string, double> want = {{"train_eval_reward/pickscore", 21.5},
                                              {"train_eval_reward_std/pickscore", 0.25},
                                              {"train_eval_reward/clipscore", 30.0},
                                              {"train_eval_reward_std/clipscore", 1.5},
                                              {"train_eval_diversity", 0.125}};
  EXPECT_EQ(reporter.evals[0].values, want);
  EXPECT_FALSE(progress.trained) << "an evaluation is not a step";

  e.diversity.reset();  // one seed: no diversity to report
  hooks.on_evaluation(e);
  EXPECT_EQ(reporter.evals[1].values.count("train_eval_diversity"), 0u);
}

}  // namespace
}  // namespace align::runner
