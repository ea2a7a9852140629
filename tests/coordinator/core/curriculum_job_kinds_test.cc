// generate -> score -> pairs as the coordinator runs them (generate_job_kind,
// score_job_kind, pairs_job_kind over the shared chunked JobRun), without a
// store, a network or a model: each rank's share, chunks counted only from
// their records, a resumed job planning only the rest, and what each job
// leaves when it completes (the index, the scores, the dataset's manifest).

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/generate_layout.h"
#include "common/curriculum/pairs_layout.h"
#include "common/curriculum/score_layout.h"
#include "common/dataset/manifest.h"
#include "common/prepare/chunk_record.h"
#include "coordinator/core/generate_job_kind.h"
#include "coordinator/core/pairs_job_kind.h"
#include "coordinator/core/score_job_kind.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/generated_chunk.h"
#include "tests/support/recording_sink.h"
#include "tests/support/temp_dir.h"

namespace align::coordinator {
namespace {

using align::testing::RecordingGroup;
using ::testing::HasSubstr;

class CurriculumJobKindsTest : public ::testing::Test {
 protected:
  void SetUp() override { std::ofstream(dir_.File("prompts.txt")) << "a red cube\na blue ball\na green cone\n"; }

  JobToPlan Job(const std::string& yaml) {
    JobToPlan job;
    job.job_id = "job-000007";
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    job.spec = spec.ok() ? *spec : JobSpec{};
    job.base_dir = dir_.path();
    job.world_size = 2;
    return job;
  }
  JobToPlan GenerateJob() {
    return Job("name: gen\ntype: generate\nmodel: sdxl\noutput: gen\nseed: 1\n"
               "generate: {prompts: prompts.txt, samples_per_prompt: 3, prompts_per_chunk: 1}\n");
  }
  JobToPlan ScoreJob() {
    return Job("name: sc\ntype: score\noutput: sc\nscore: {images: gen, reward: pickscore, reward_model: ps, "
               "images_per_chunk: 5}\n");
  }
  JobToPlan PairsJob() {
    return Job("name: pr\ntype: pairs\ndataset: ds\noutput: pr\n"
               "pairs: {generated: gen, scores: sc, stages: 3, pairs_per_shard: 4}\n");
  }
  static std::unique_ptr<JobRun> Plan(const JobKind& kind, JobToPlan job) {
    absl::StatusOr<std::unique_ptr<JobRun>> run = kind.Plan(std::move(job));
    EXPECT_TRUE(run.ok()) << run.status();
    return run.ok() ? std::move(*run) : nullptr;
  }

  align::testing::TempDir dir_{"curriculum_job_kinds_test"};
};

TEST_F(CurriculumJobKindsTest, GenerateSplitsPromptsCountsRecordsAndWritesTheIndex) {
  std::unique_ptr<JobRun> run = Plan(GenerateJobKind(), GenerateJob());
  ASSERT_NE(run, nullptr);
  EXPECT_EQ(run->total_steps(), 3);
  RecordingGroup group(2);
  const RunUpdate started = run->Start(group.sinks);
  EXPECT_EQ(group.ranks[0]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{0}));
  EXPECT_EQ(group.ranks[1]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{1, 2}));
  EXPECT_THAT(started.events[0].message, HasSubstr("3 prompts x 3 samples in 3 chunks, 0 already done"));

  const JobSpec spec = ResolveJobPaths(GenerateJob().spec, dir_.path());
  absl::StatusOr<curriculum::GenerateLayout> layout = curriculum::LayOutGenerateJob(spec);
  ASSERT_TRUE(layout.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(run->ChunkDone(0, 0, 3, 0).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(run->ChunkDone(0, 3, 3, 0).status()));
  ASSERT_TRUE(testing::WriteGeneratedChunk(*layout, 0).ok());
  ASSERT_EQ(run->ChunkDone(0, 0, 3, 0)->steps_done, 1);

  // Another attempt plans only what is left.
  std::unique_ptr<JobRun> resumed = Plan(GenerateJobKind(), GenerateJob());
  ASSERT_NE(resumed, nullptr);
  EXPECT_EQ(resumed->start_step(), 1);
  RecordingGroup again(2);
  resumed->Start(again.sinks);
  EXPECT_EQ(again.ranks[0]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{1}));
  EXPECT_EQ(again.ranks[1]->Queued<WorkChunksOut>()[0].positions, (std::vector<int64_t>{2}));

  for (int64_t chunk : {1, 2}) {
    ASSERT_TRUE(testing::WriteGeneratedChunk(*layout, chunk).ok());
    ASSERT_TRUE(resumed->ChunkDone(1, chunk, 3, 0).ok());
  }
  const FinishedJob finished = resumed->Finish(JobCompletion{3, "", nullptr});
  EXPECT_TRUE(finished.result.succeeded) << finished.result.message;
  EXPECT_THAT(finished.result.message, HasSubstr("generated 9 images for 3 prompts"));
  absl::StatusOr<std::vector<curriculum::GeneratedIndexRow>> index = curriculum::ReadGenerateIndex(dir_.File("gen"));
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->size(), 9u);

  // The same output with other options is refused, not mixed.
  JobToPlan other = GenerateJob();
  other.spec.generate->sampling.guidance_scale = 9;
  absl::StatusOr<std::unique_ptr<JobRun>> refused = GenerateJobKind().Plan(std::move(other));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("belongs to a generate run with different input or options"));
}

TEST_F(CurriculumJobKindsTest, ScoreThenPairsMakeAStagedDataset) {
  const JobSpec gen_spec = ResolveJobPaths(GenerateJob().spec, dir_.path());
  absl::StatusOr<curriculum::GenerateLayout> gen = curriculum::LayOutGenerateJob(gen_spec);
  ASSERT_TRUE(gen.ok());
  for (int64_t chunk = 0; chunk < 3; ++chunk) ASSERT_TRUE(testing::WriteGeneratedChunk(*gen, chunk).ok());
  ASSERT_TRUE(curriculum::WriteGenerateIndex(*gen).ok());

  std::unique_ptr<JobRun> score = Plan(ScoreJobKind(), ScoreJob());
  ASSERT_NE(score, nullptr);
  EXPECT_EQ(score->total_steps(), 2);  // 9 images in chunks of 5
  const JobSpec score_spec = ResolveJobPaths(ScoreJob().spec, dir_.path());
  absl::StatusOr<curriculum::ScoreLayout> scores = curriculum::LayOutScoreJob(score_spec);
  ASSERT_TRUE(scores.ok());
  for (int64_t chunk = 0; chunk < 2; ++chunk) {
    curriculum::ScoreChunkRecord record{chunk, absl::StrFormat("%016x", scores->fingerprint), {}, 0};
    for (int64_t i = scores->FirstItem(chunk); i < scores->EndItem(chunk); ++i) {
      record.scores.push_back(static_cast<double>(*scores->items[i].sample) * 0.5);
    }
    ASSERT_TRUE(curriculum::WriteScoreChunkRecord(*scores, record).ok());
    ASSERT_TRUE(score->ChunkDone(0, chunk, 0, 0).ok());
  }
  const FinishedJob scored = score->Finish(JobCompletion{2, "", nullptr});
  ASSERT_TRUE(scored.result.succeeded) << scored.result.message;
  EXPECT_THAT(scored.events[0].message, HasSubstr("9 images, pickscore mean 0.5 (min 0, max 1)"));

  std::unique_ptr<JobRun> pairs = Plan(PairsJobKind(), PairsJob());
  ASSERT_NE(pairs, nullptr);
  EXPECT_EQ(pairs->total_steps(), 3);  // 9 pairs in shards of 4
  const JobSpec pairs_spec = ResolveJobPaths(PairsJob().spec, dir_.path());
  absl::StatusOr<curriculum::PairsLayout> layout = curriculum::LayOutPairsJob(pairs_spec);
  ASSERT_TRUE(layout.ok());
  for (int64_t chunk = 0; chunk < 3; ++chunk) {
    EXPECT_TRUE(absl::IsFailedPrecondition(pairs->ChunkDone(0, chunk, 0, 0).status()));
    absl::StatusOr<prepare::ChunkRecord> record =
        curriculum::WritePairsChunk(*layout, layout->plan.chunks[chunk], ShardDtype::kF32);
    ASSERT_TRUE(record.ok()) << record.status();
    ASSERT_TRUE(prepare::WriteChunkRecord(layout->state_dir, *record).ok());
    ASSERT_TRUE(pairs->ChunkDone(0, chunk, 0, 0).ok());
  }
  const FinishedJob paired = pairs->Finish(JobCompletion{3, "", nullptr});
  ASSERT_TRUE(paired.result.succeeded) << paired.result.message;
  EXPECT_THAT(paired.events[0].message, HasSubstr("9 pairs (train 9, heldout 0) from 3 prompts; by stage {0: 3, 1: 3, 2: 3}"));
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dir_.File("ds"));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_TRUE(manifest->has_difficulty);
  EXPECT_TRUE(manifest->has_scores);
  EXPECT_EQ(manifest->splits.at("train").pairs, 9);

  // Planned again over a finished dataset of its own: every shard is done.
  std::unique_ptr<JobRun> again = Plan(PairsJobKind(), PairsJob());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->start_step(), 3);
}

TEST_F(CurriculumJobKindsTest, PairsOfUnfinishedInputsFailToPlanWithTheReason) {
  absl::StatusOr<std::unique_ptr<JobRun>> run = PairsJobKind().Plan(PairsJob());
  ASSERT_FALSE(run.ok());
  EXPECT_THAT(run.status().message(), HasSubstr("pairs.generated: not a finished generate job's output"));
  std::ofstream(dir_.File("empty.txt")) << "\n";
  absl::StatusOr<std::unique_ptr<JobRun>> empty = GenerateJobKind().Plan(
      Job("name: g\ntype: generate\nmodel: m\noutput: g\ngenerate: {prompts: empty.txt}\n"));
  ASSERT_FALSE(empty.ok());
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.txt: holds no prompt"));
}

}  // namespace
}  // namespace align::coordinator
