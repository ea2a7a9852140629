// `type: prepare` as the coordinator runs it (coordinator/core/
// prepare_job_kind.h), without a store or a network: each rank's contiguous
// share of the chunks at the start and the job's planned size, finished
// chunks counted from their records (failed items become an event), and the
// report and manifest written at completion, or the job failed when too many
// items failed.

#include "coordinator/core/prepare_job_kind.h"

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/manifest.h"
#include "common/prepare/prepare_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/finished_chunk.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"

namespace align::coordinator {
namespace {

using align::testing::RecordingGroup;
using ::testing::HasSubstr;

const data::PairShape kShape{4, 4, 4, 2, 8, 0};

class PrepareJobKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream jsonl(dir_.File("pairs.jsonl"));
    for (int i = 0; i < 10; ++i) {
      jsonl << "{\"caption\": \"c" << i << "\", \"image_0\": \"a.jpg\", \"image_1\": \"b.jpg\", \"label_0\": 1}\n";
    }
  }

  // 10 items in chunks of 3: 4 chunks.
  JobToPlan Job(double max_error_ratio = 0.2, const std::string& input = "pairs.jsonl") {
    JobToPlan job;
    job.job_id = "job-000003";
    job.spec = *ParseJobSpec(
        absl::StrCat("name: prep\ntype: prepare\nmodel: model\ndataset: prepared\noutput: runs/prep\nseed: 3\n"
                     "prepare: {input: ",
                     input, ", pairs_per_shard: 3, max_error_ratio: ", max_error_ratio, "}\n"));
    job.base_dir = dir_.path();
    job.world_size = 2;
    return job;
  }
  // Chunk `position` finished as a rank finishes it.
  void WriteChunk(const JobToPlan& job, size_t position, int failed_items = 0) {
    const JobSpec spec = ResolveJobPaths(job.spec, job.base_dir);
    absl::StatusOr<prepare::PrepareLayout> layout = prepare::LayOutPrepareJob(spec);
    ASSERT_TRUE(layout.ok()) << layout.status();
    ASSERT_TRUE(testing::WriteFinishedChunk(spec, *layout, position, failed_items, kShape).ok());
  }
  std::unique_ptr<JobRun> Plan(JobToPlan job) {
    absl::StatusOr<std::unique_ptr<JobRun>> run = PrepareJobKind().Plan(std::move(job));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? std::move(*run) : nullptr;
  }

  align::testing::TempDir dir_{"prepare_job_kind_test"};
};

TEST_F(PrepareJobKindTest, EachRankGetsAContiguousShareAndTheJobItsSize) {
  std::unique_ptr<JobRun> run = Plan(Job());
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->total_steps(), 4);
  EXPECT_EQ(run->start_step(), 0);
  EXPECT_FALSE(run->shows_training_steps());

  RecordingGroup group(2);
  const RunUpdate started = run->Start(group.sinks);
  EXPECT_EQ(started.messages_queued, 2);
  const std::vector<std::vector<int64_t>> expected = {{0, 1}, {2, 3}};
  for (int rank = 0; rank < 2; ++rank) {
    const auto shares = group.ranks[rank]->Queued<WorkChunksOut>();
    ASSERT_EQ(shares.size(), 1u);
    EXPECT_EQ(shares[0].job_id, "job-000003");
    EXPECT_EQ(shares[0].positions, expected[rank]);
    EXPECT_EQ(shares[0].total_chunks, 4);
    EXPECT_TRUE(group.ranks[rank]->Queued<PlanChunkOut>().empty());
  }
  ASSERT_TRUE(started.planned_size.has_value());
  EXPECT_EQ(started.planned_size->total_steps, 4);
  EXPECT_EQ(started.planned_size->steps_done, 0);
  ASSERT_EQ(started.events.size(), 1u);
  EXPECT_EQ(started.events[0].kind, "planned");
  EXPECT_EQ(started.events[0].message, "4 chunks, 0 already done, split over 2 ranks");
  // The work went out at once: reported steps stream nothing.
  const RunUpdate progressed = run->Progressed(group.sinks, 2, false);
  EXPECT_EQ(progressed.messages_queued, 0);
  EXPECT_TRUE(progressed.events.empty());
}

TEST_F(PrepareJobKindTest, AResumedJobSplitsOnlyTheUnfinishedChunks) {
  const JobToPlan job = Job();
  ASSERT_NE(Plan(Job()), nullptr);  // writes the plan state, as the first attempt did
  WriteChunk(job, 0);
  WriteChunk(job, 1);
  std::unique_ptr<JobRun> run = Plan(Job());
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->start_step(), 2);
  RecordingGroup group(2);
  const RunUpdate started = run->Start(group.sinks);
  EXPECT_EQ(group.ranks[0]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{2}));
  EXPECT_EQ(group.ranks[1]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{3}));
  EXPECT_EQ(started.planned_size->steps_done, 2);
}

TEST_F(PrepareJobKindTest, FinishedChunksCountFromTheirRecordsAndTheDatasetIsWrittenAtTheEnd) {
  const JobToPlan job = Job();
  std::unique_ptr<JobRun> run = Plan(Job());
  ASSERT_NE(run, nullptr);
  // A chunk whose record is not there is refused.
  EXPECT_TRUE(absl::IsFailedPrecondition(run->ChunkDone(1, 2, 3, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(run->ChunkDone(0, 9, 3, 0).status()));

  WriteChunk(job, 0, /*failed_items=*/1);
  absl::StatusOr<WorkProgress> first = run->ChunkDone(0, 0, 2, 1);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->steps_done, 1);
  EXPECT_EQ(first->metrics.at("pairs"), 2);
  EXPECT_EQ(first->metrics.at("failed_items"), 1);
  ASSERT_EQ(first->events.size(), 1u);
  EXPECT_EQ(first->events[0].kind, "items_failed");
  EXPECT_THAT(first->events[0].message, HasSubstr("1 of 3 items failed"));

  for (size_t position : {1, 2, 3}) {
    WriteChunk(job, position);
    absl::StatusOr<WorkProgress> done = run->ChunkDone(position < 2 ? 0 : 1, position, 3, 0);
    ASSERT_TRUE(done.ok()) << done.status();
    EXPECT_TRUE(done->events.empty());
  }
  // Reported twice: counted once.
  absl::StatusOr<WorkProgress> again = run->ChunkDone(1, 3, 3, 0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->steps_done, 4);
  EXPECT_EQ(again->metrics.at("pairs"), 9);

  const FinishedJob finished = run->Finish(JobCompletion{2, "", nullptr});
  EXPECT_EQ(finished.final_step, 4);
  EXPECT_FALSE(finished.final_checkpoint_step.has_value());
  EXPECT_TRUE(finished.result.succeeded) << finished.result.message;
  EXPECT_THAT(finished.result.message, HasSubstr("prepared 10 items: 9 pairs"));
  ASSERT_EQ(finished.events.size(), 1u);
  EXPECT_EQ(finished.events[0].kind, "report");
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dir_.File("prepared"));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->splits.at("train").pairs, 9);
}

TEST_F(PrepareJobKindTest, TooManyFailedItemsFailTheJobWithItsReport) {
  const JobToPlan job = Job(/*max_error_ratio=*/0.05);
  std::unique_ptr<JobRun> run = Plan(Job(0.05));
  ASSERT_NE(run, nullptr);
  for (size_t position : {0, 1, 2, 3}) {
    WriteChunk(job, position, position == 0 ? 2 : 0);
    ASSERT_TRUE(run->ChunkDone(0, position, 0, 0).ok());
  }
  const FinishedJob finished = run->Finish(JobCompletion{4, "", nullptr});
  EXPECT_FALSE(finished.result.succeeded);
  EXPECT_FALSE(finished.result.message.empty());
  ASSERT_EQ(finished.events.size(), 1u);  // the report, still
  EXPECT_EQ(finished.events[0].kind, "report");
  EXPECT_FALSE(data::LoadManifest(dir_.File("prepared")).ok());
}

TEST_F(PrepareJobKindTest, AnInputThatVanishedCannotBePlanned) {
  absl::StatusOr<std::unique_ptr<JobRun>> run = PrepareJobKind().Plan(Job(0.2, "gone.jsonl"));
  EXPECT_FALSE(run.ok());
  EXPECT_THAT(run.status().message(), HasSubstr("gone.jsonl"));
}

}  // namespace
}  // namespace align::coordinator
