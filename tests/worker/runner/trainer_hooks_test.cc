// The progress a train job's hooks keep for its completion: which checkpoint
// the attempt ends with, whether it wrote one or resumed at it.

#include <cstdint>
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
  void Eval(const control::EvalReport& /*report*/) override {}
  void Checkpoint(int64_t step, const std::string& dir) override { checkpoints.emplace_back(step, dir); }
  bool ShouldStop() override { return false; }
  void ChunkDone(int64_t /*position*/, int64_t /*pairs*/, int64_t /*failed_items*/) override {}

  std::vector<int64_t> steps;
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

}  // namespace
}  // namespace align::runner
