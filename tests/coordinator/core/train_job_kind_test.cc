// `type: train` as the coordinator runs it (coordinator/core/
// train_job_kind.h), without a store or a network: the plan it streams ahead
// of the reported steps and never past the last one, curriculum stages
// announced once (also across a resume), what it records at completion, and
// the registry that finds it.

#include "coordinator/core/train_job_kind.h"

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/dataset/synthetic.h"
#include "common/plan/pair_plan.h"
#include "coordinator/core/job_kind_registry.h"
#include "coordinator/core/prepare_job_kind.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"

namespace align::coordinator {
namespace {

using align::testing::RecordingGroup;
using ::testing::HasSubstr;

class TrainJobKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data::SyntheticOptions data;
    data.train_pairs = 40;
    data.heldout_pairs = 4;
    data.shape = {4, 4, 4, 2, 8, 0};
    data.seed = 1;
    ASSERT_TRUE(data::WriteSyntheticDataset(dir_.File("data"), data).ok());
  }

  JobToPlan Job(int steps, const std::string& extra = "", int64_t resume = 0, int world = 2) {
    const std::string yaml =
        "name: t\ntype: train\nmodel: model\ndataset: data\noutput: runs/t\n"
        "loss: {type: dpo}\nbatch: {pairs_per_rank: 2, grad_accum: 2}\nseed: 7\nsteps: " +
        std::to_string(steps) + "\n" + extra;
    JobToPlan job;
    job.job_id = "job-000001";
    job.spec = *ParseJobSpec(yaml);
    job.base_dir = dir_.path();
    job.resume_step = resume;
    job.world_size = world;
    job.streaming = PlanStreaming{8, 4};
    return job;
  }
  std::unique_ptr<JobRun> Plan(JobToPlan job) {
    absl::StatusOr<std::unique_ptr<JobRun>> run = TrainJobKind().Plan(std::move(job));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? std::move(*run) : nullptr;
  }

  align::testing::TempDir dir_{"train_job_kind_test"};
};

TEST_F(TrainJobKindTest, StreamsThePlannersPairsAheadOfProgressAndNeverPastTheEnd) {
  std::unique_ptr<JobRun> run = Plan(Job(20));
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->total_steps(), 20);
  EXPECT_EQ(run->start_step(), 0);
  EXPECT_TRUE(run->shows_training_steps());

  RecordingGroup group(2);
  const RunUpdate started = run->Start(group.sinks);
  EXPECT_EQ(started.messages_queued, 4);  // chunks [0,4) and [4,8) to both ranks
  EXPECT_TRUE(started.events.empty());
  EXPECT_FALSE(started.planned_size.has_value());
  EXPECT_EQ(run->planned_until(), 8);
  plan::PairPlan reference({40, 2, 2, 2, 7});
  for (int rank = 0; rank < 2; ++rank) {
    const auto chunks = group.ranks[rank]->Queued<PlanChunkOut>();
    ASSERT_EQ(chunks.size(), 2u);
    EXPECT_EQ(chunks[0].job_id, "job-000001");
    for (const PlanChunkOut& chunk : chunks) {
      for (const StepPlanOut& step : chunk.steps) {
        ASSERT_EQ(step.micro_batches.size(), 2u);
        for (int64_t micro = 0; micro < 2; ++micro) {
          EXPECT_EQ(step.micro_batches[micro].pairs, reference.PairsFor(step.step, rank, micro).pairs);
        }
      }
    }
  }

  EXPECT_EQ(run->Progressed(group.sinks, 1, false).messages_queued, 2);  // [8,12)
  EXPECT_EQ(run->Progressed(group.sinks, 2, false).messages_queued, 0);
  EXPECT_FALSE(run->Progressed(group.sinks, 2, false).curriculum_stage.has_value());  // no curriculum
  run->Progressed(group.sinks, 18, false);
  EXPECT_EQ(run->planned_until(), 20);
  EXPECT_EQ(group.ranks[1]->Queued<PlanChunkOut>().back().end_step, 20);
}

TEST_F(TrainJobKindTest, AStoppingGroupGetsNoMorePlans) {
  std::unique_ptr<JobRun> run = Plan(Job(30));
  ASSERT_NE(run, nullptr);
  RecordingGroup group(1);
  run->Start(group.sinks);
  const size_t chunks = group.ranks[0]->Queued<PlanChunkOut>().size();
  EXPECT_EQ(run->Progressed(group.sinks, 6, /*stopping=*/true).messages_queued, 0);
  EXPECT_EQ(group.ranks[0]->Queued<PlanChunkOut>().size(), chunks);
}

TEST_F(TrainJobKindTest, CurriculumStagesAreAnnouncedOnceAlsoAcrossAResume) {
  const std::string curriculum = "curriculum: {stages: 3, steps_per_stage: 4}\n";
  std::unique_ptr<JobRun> run = Plan(Job(20, curriculum));
  ASSERT_NE(run, nullptr);
  RecordingGroup group(1);
  run->Start(group.sinks);
  const auto boundaries = group.ranks[0]->Queued<StageBoundaryOut>();
  ASSERT_EQ(boundaries.size(), 2u);  // stages 0 and 1 start in [0,8)
  EXPECT_EQ(boundaries[1].start_step, 4);

  std::vector<std::string> announced;
  for (int64_t step = 1; step <= 9; ++step) {
    const RunUpdate update = run->Progressed(group.sinks, step, false);
    ASSERT_TRUE(update.curriculum_stage.has_value());
    for (const NewJobEvent& event : update.events) {
      EXPECT_EQ(event.kind, "stage");
      EXPECT_TRUE(update.save_progress_now);  // a stage's start is stored at once
      announced.push_back(event.message);
    }
  }
  EXPECT_EQ(announced, (std::vector<std::string>{"stage 0 of 3 starts at step 0", "stage 1 of 3 starts at step 4",
                                                 "stage 2 of 3 starts at step 8"}));
  EXPECT_EQ(*run->Progressed(group.sinks, 9, false).curriculum_stage, 2);

  // Resumed at step 6 (in stage 1) by a job whose events announce stages 0 and 1.
  JobToPlan resumed = Job(20, curriculum, /*resume=*/6, /*world=*/1);
  resumed.history = {{1, 1, 0, "stage", "stage 0 of 3 starts at step 0"},
                     {2, 1, 0, "stage", "stage 1 of 3 starts at step 4"}};
  std::unique_ptr<JobRun> again = Plan(std::move(resumed));
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->start_step(), 6);
  RecordingGroup next(1);
  again->Start(next.sinks);
  const auto resumed_in = next.ranks[0]->Queued<StageBoundaryOut>();
  ASSERT_GE(resumed_in.size(), 1u);
  EXPECT_EQ(resumed_in[0].stage, 1);  // the stage it resumes in comes first
  EXPECT_EQ(resumed_in[0].start_step, 4);
  EXPECT_EQ(next.ranks[0]->Queued<PlanChunkOut>().front().first_step, 6);
  int stage_events = 0;
  for (int64_t step = 7; step <= 10; ++step) stage_events += again->Progressed(next.sinks, step, false).events.size();
  EXPECT_EQ(stage_events, 1);  // stage 2 only
}

TEST_F(TrainJobKindTest, PromptDropoutIsRecordedInTheEventsOnceAtTheFirstStart) {
  std::unique_ptr<JobRun> run =
      Plan(Job(12, "data: {prompt_dropout: 0.25}\ncurriculum: {stages: 3, steps_per_stage: 4}\n"));
  ASSERT_NE(run, nullptr);
  RecordingGroup group(2);
  const RunUpdate started = run->Start(group.sinks);
  ASSERT_EQ(started.events.size(), 1u);
  EXPECT_EQ(started.events[0].kind, "data");
  EXPECT_THAT(started.events[0].message, HasSubstr("prompt_dropout 0.25"));
  EXPECT_THAT(started.events[0].message, HasSubstr("curriculum 3 stages of 4 steps"));

  // A later attempt whose history already has it does not repeat it.
  JobToPlan resumed = Job(12, "data: {prompt_dropout: 0.25}\n", /*resume=*/4);
  resumed.history = {{1, 1, 0, "data", started.events[0].message}};
  std::unique_ptr<JobRun> again = Plan(std::move(resumed));
  ASSERT_NE(again, nullptr);
  RecordingGroup next(2);
  EXPECT_TRUE(again->Start(next.sinks).events.empty());
}

TEST_F(TrainJobKindTest, CompletionRecordsTheFinalStepAndCheckpointTheStoreLacks) {
  std::unique_ptr<JobRun> run = Plan(Job(8));
  ASSERT_NE(run, nullptr);
  JobRecord record;
  record.steps_done = 7;
  record.last_checkpoint_step = 4;
  FinishedJob finished = run->Finish(JobCompletion{8, "/runs/t/checkpoint-8", &record});
  EXPECT_EQ(finished.final_step, 8);
  EXPECT_EQ(finished.final_checkpoint_step, 8);
  EXPECT_EQ(finished.final_checkpoint_path, "/runs/t/checkpoint-8");
  EXPECT_TRUE(finished.result.succeeded);
  EXPECT_EQ(finished.result.message, "finished step 8; final checkpoint /runs/t/checkpoint-8");
  EXPECT_TRUE(finished.events.empty());

  record.steps_done = 8;
  record.last_checkpoint_step = 8;
  finished = run->Finish(JobCompletion{8, "/runs/t/checkpoint-8", &record});
  EXPECT_FALSE(finished.final_step.has_value());
  EXPECT_FALSE(finished.final_checkpoint_step.has_value());

  // The stored job could not be read: both are recorded (the store keeps the higher).
  finished = run->Finish(JobCompletion{8, "", nullptr});
  EXPECT_EQ(finished.final_step, 8);
  EXPECT_FALSE(finished.final_checkpoint_step.has_value());  // no checkpoint reported
  EXPECT_EQ(finished.result.message, "finished step 8");
}

TEST_F(TrainJobKindTest, ChunkReportsAndUnplannableDatasetsAreErrors) {
  std::unique_ptr<JobRun> run = Plan(Job(8));
  ASSERT_NE(run, nullptr);
  absl::StatusOr<WorkProgress> chunk = run->ChunkDone(0, 0, 1, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(chunk.status())) << chunk.status();
  EXPECT_THAT(chunk.status().message(), HasSubstr("job-000001"));

  JobToPlan nowhere = Job(8);
  nowhere.spec.dataset = "nowhere";
  absl::StatusOr<std::unique_ptr<JobRun>> unplannable = TrainJobKind().Plan(std::move(nowhere));
  EXPECT_FALSE(unplannable.ok());
  EXPECT_THAT(unplannable.status().message(), HasSubstr("nowhere"));
}

TEST(JobKindRegistryTest, FindsEachBuiltInKindByTypeAndRefusesASecondKindForOneType) {
  const JobKindRegistry& kinds = BuiltInJobKinds();
  absl::StatusOr<const JobKind*> train = kinds.Find(JobType::kTrain);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ((*train)->name(), "train");
  absl::StatusOr<const JobKind*> prepare = kinds.Find(JobType::kPrepare);
  ASSERT_TRUE(prepare.ok()) << prepare.status();
  EXPECT_EQ((*prepare)->name(), "prepare");
  JobSpec spec;
  spec.steps = 12;
  EXPECT_EQ((*train)->SubmittedTotalSteps(spec), 12);
  EXPECT_EQ((*prepare)->SubmittedTotalSteps(spec), 0);  // counted when planned
  // A train job reads its UNet's config: a spec naming no model is refused under `model`.
  const absl::Status unchecked = (*train)->CheckSubmitted(spec);
  EXPECT_TRUE(absl::IsInvalidArgument(unchecked));
  EXPECT_THAT(unchecked.message(), HasSubstr("model: "));

  JobKindRegistry registry;
  EXPECT_TRUE(absl::IsInvalidArgument(registry.Find(JobType::kTrain).status()));
  ASSERT_TRUE(registry.Register(std::make_unique<TrainJobKind>()).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(registry.Register(std::make_unique<TrainJobKind>())));
  EXPECT_TRUE(registry.Find(JobType::kTrain).ok());
  EXPECT_FALSE(registry.Find(JobType::kPrepare).ok());
}

}  // namespace
}  // namespace align::coordinator
