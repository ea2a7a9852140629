// The evaluate kind as the coordinator runs it, without a store, a network or
// a model: chunks split over the ranks checkpoint by checkpoint, counted only
// from their records, a resumed job planning only the rest, and on
// completion the report with its figures as align_eval_* gauges.

#include "coordinator/core/evaluate_job_kind.h"

#include <cstdint>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/evaluated_chunk.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"

namespace align::coordinator {
namespace {

using ::testing::HasSubstr;

class EvaluateJobKindTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(dir_.File("prompts.txt")) << "a red cube\na blue ball\na green cone\n"; }

  JobToPlan Job() {
    JobToPlan job;
    job.job_id = "job-000009";
    absl::StatusOr<JobSpec> spec = ParseJobSpec(
        "name: ev\ntype: evaluate\nmodel: sdxl\noutput: ev\nseed: 4\n"
        "evaluate: {prompts: prompts.txt, seeds: 2, prompts_per_chunk: 2, bootstrap: {resamples: 50},"
        " checkpoints: [{name: base}, {name: dpo, unet: ckpt}], rewards: [{reward: pickscore, model: p}],"
        " embedder: e}\n");
    EXPECT_TRUE(spec.ok()) << spec.status();
    job.spec = spec.ok() ? *spec : JobSpec{};
    job.base_dir = dir_.path();
    job.world_size = 2;
    return job;
  }
  evaluation::EvaluateLayout Layout() {
    JobToPlan job = Job();
    absl::StatusOr<evaluation::EvaluateLayout> layout =
        evaluation::LayOutEvaluateJob(ResolveJobPaths(job.spec, job.base_dir));
    EXPECT_TRUE(layout.ok()) << layout.status();
    return *layout;
  }

  align::testing::TempDir dir_{"evaluate_job_kind_test"};
};

TEST_F(EvaluateJobKindTest, SplitsCountsRecordsAndFinishesWithTheReportsFigures) {
  absl::StatusOr<std::unique_ptr<JobRun>> run = EvaluateJobKind().Plan(Job());
  ASSERT_TRUE(run.ok()) << run.status();
  EXPECT_EQ((*run)->total_steps(), 4);  // 2 checkpoints x 2 chunks of prompts
  align::testing::RecordingGroup group(2);
  const RunUpdate started = (*run)->Start(group.sinks);
  EXPECT_EQ(group.ranks[0]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(group.ranks[1]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{2, 3}));
  EXPECT_THAT(started.events[0].message, HasSubstr("2 checkpoints x 3 prompts x 2 seeds, 1 rewards, in 4 chunks"));

  // A chunk reported without its record is refused.
  absl::StatusOr<WorkProgress> early = (*run)->ChunkDone(0, 0, 4, 0);
  EXPECT_TRUE(absl::IsFailedPrecondition(early.status())) << early.status();
  const evaluation::EvaluateLayout layout = Layout();
  for (int64_t chunk = 0; chunk < 4; ++chunk) {
    ASSERT_TRUE(align::testing::WriteEvaluatedChunk(layout, chunk).ok());
    absl::StatusOr<WorkProgress> progress = (*run)->ChunkDone(chunk < 2 ? 0 : 1, chunk, 4, 0);
    ASSERT_TRUE(progress.ok()) << progress.status();
    EXPECT_EQ(progress->steps_done, chunk + 1);
  }
  EXPECT_TRUE(absl::IsInvalidArgument((*run)->ChunkDone(0, 4, 1, 0).status()));

  // A resumed job has nothing left.
  absl::StatusOr<std::unique_ptr<JobRun>> resumed = EvaluateJobKind().Plan(Job());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)->start_step(), 4);

  const FinishedJob finished = (*run)->Finish(JobCompletion{4, "", nullptr});
  ASSERT_TRUE(finished.result.succeeded) << finished.result.message;
  EXPECT_THAT(finished.result.message, HasSubstr("report.json"));
  EXPECT_TRUE(std::ifstream(layout.output + "/report.json").good());
  EXPECT_TRUE(std::ifstream(layout.output + "/contact_sheet.png").good());
  std::set<std::string> names;
  for (const ExportedFigure& figure : finished.figures) {
    names.insert(figure.name);
    if (figure.name == "align_eval_win_rate" && figure.labels.at("checkpoint") == "dpo") {
      EXPECT_DOUBLE_EQ(figure.value, 1.0);  // dpo scores 1 higher on every pair
      EXPECT_EQ(figure.labels.at("reward"), "pickscore");
    }
    if (figure.name == "align_eval_diversity" && figure.labels.at("checkpoint") == "base") {
      EXPECT_NEAR(figure.value, 0.0, 1e-7);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"align_eval_reward", "align_eval_reward_std", "align_eval_prompt_variance",
                                          "align_eval_win_rate", "align_eval_win_rate_ci_low",
                                          "align_eval_win_rate_ci_high", "align_eval_diversity"}));
  ASSERT_EQ(finished.events.size(), 2u);
  EXPECT_THAT(finished.events[0].message, HasSubstr("base (base): pickscore"));
}

TEST_F(EvaluateJobKindTest, SubmitChecksNameTheCheckpointAndTheReward) {
  JobToPlan job = Job();
  const absl::Status status = EvaluateJobKind().CheckSubmitted(ResolveJobPaths(job.spec, job.base_dir));
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("evaluate.checkpoints[0] (base): "));
}

}  // namespace
}  // namespace align::coordinator
