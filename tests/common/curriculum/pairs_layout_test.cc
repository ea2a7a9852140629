// The pipeline's files from end to end without a model: a generate job's
// chunk records and latents files (written here as a rank would), its index,
// a score job over it, and a pairs job that turns both into a prepared
// dataset whose pairs carry the right latents, conditioning, scores and
// difficulty.

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/curriculum/generate_layout.h"
#include "common/curriculum/pairs_layout.h"
#include "common/curriculum/prompt_list.h"
#include "common/curriculum/score_layout.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/reader.h"
#include "common/job_spec.h"
#include "common/run_fingerprint.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/generated_chunk.h"
#include "tests/support/temp_dir.h"

namespace align::curriculum {
namespace {

using ::testing::HasSubstr;
using ::align::testing::TempDir;

constexpr int64_t kTokens = ::align::testing::kGeneratedTokens;
constexpr int64_t kDim = ::align::testing::kGeneratedDim;
constexpr int64_t kPooled = ::align::testing::kGeneratedPooled;

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

JobSpec Parse(const std::string& yaml) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : JobSpec{};
}

void GenerateChunk(const GenerateLayout& layout, int64_t chunk) {
  const absl::Status written = ::align::testing::WriteGeneratedChunk(layout, chunk);
  ASSERT_TRUE(written.ok()) << written;
}

TEST(PromptListTest, TextAndJsonlAndTheirErrors) {
  TempDir dir;
  WriteText(dir.path() + "/p.txt", "a cat\r\n\n  \na dog\n");
  absl::StatusOr<std::vector<std::string>> prompts = ReadPrompts(dir.path() + "/p.txt");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_EQ(*prompts, (std::vector<std::string>{"a cat", "a dog"}));
  WriteText(dir.path() + "/p.jsonl", "{\"prompt\": \"x\"}\n{\"caption\": \"y\"}\n");
  prompts = ReadPrompts(dir.path() + "/p.jsonl");
  ASSERT_TRUE(prompts.ok()) << prompts.status();
  EXPECT_EQ(*prompts, (std::vector<std::string>{"x", "y"}));

  WriteText(dir.path() + "/empty.txt", "\n\n");
  EXPECT_THAT(ReadPrompts(dir.path() + "/empty.txt").status().message(), HasSubstr("empty.txt: holds no prompt"));
  WriteText(dir.path() + "/bad.jsonl", "{\"prompt\": \"x\"}\n{\"text\": 3}\n");
  EXPECT_THAT(ReadPrompts(dir.path() + "/bad.jsonl").status().message(),
              HasSubstr("bad.jsonl:2: has no \"prompt\" (or \"caption\") string"));
  WriteText(dir.path() + "/utf.txt", "ok\n\xff\xfe\n");
  EXPECT_THAT(ReadPrompts(dir.path() + "/utf.txt").status().message(), HasSubstr("utf.txt:2: is not valid UTF-8"));
  EXPECT_FALSE(ReadPrompts(dir.path() + "/missing.txt").ok());
}

TEST(CurriculumLayoutTest, GenerateScorePairsMakeAPreparedDataset) {
  TempDir dir;
  const std::string root = dir.path();
  WriteText(root + "/prompts.txt", "red\ngreen\nblue\n");
  const JobSpec gen = ResolveJobPaths(Parse("name: gen\ntype: generate\nmodel: m\noutput: gen\n"
                                            "generate: {prompts: prompts.txt, samples_per_prompt: 3, prompts_per_chunk: 2}\n"),
                                      root);
  absl::StatusOr<GenerateLayout> layout = LayOutGenerateJob(gen);
  ASSERT_TRUE(layout.ok()) << layout.status();
  ASSERT_EQ(layout->num_chunks(), 2);
  EXPECT_EQ(layout->EndPrompt(1), 3);
  EXPECT_EQ(layout->ImageFile(2, 1), "images/000002-001.png");
  EXPECT_FALSE(FinishedGenerateChunk(*layout, 0).has_value());
  EXPECT_THAT(WriteGenerateIndex(*layout).message(), HasSubstr("chunk 0 has no finished record"));
  GenerateChunk(*layout, 0);
  GenerateChunk(*layout, 1);
  ASSERT_TRUE(FinishedGenerateChunk(*layout, 1).has_value());
  // Another configuration's records are not this job's.
  JobSpec other = gen;
  other.generate->sampling.guidance_scale = 7;
  absl::StatusOr<GenerateLayout> other_layout = LayOutGenerateJob(other);
  ASSERT_TRUE(other_layout.ok());
  EXPECT_FALSE(FinishedGenerateChunk(*other_layout, 0).has_value());
  ASSERT_TRUE(WriteGenerateIndex(*layout).ok());
  absl::StatusOr<std::vector<GeneratedIndexRow>> index = ReadGenerateIndex(root + "/gen");
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_EQ(index->size(), 9u);
  EXPECT_EQ((*index)[4].prompt, "green");
  EXPECT_EQ((*index)[4].sample_id, 4);

  const JobSpec score = ResolveJobPaths(
      Parse("name: sc\ntype: score\noutput: sc\nscore: {images: gen, reward: clipscore, reward_model: r, "
            "images_per_chunk: 4}\n"),
      root);
  absl::StatusOr<ScoreLayout> scores = LayOutScoreJob(score);
  ASSERT_TRUE(scores.ok()) << scores.status();
  ASSERT_EQ(scores->items.size(), 9u);
  ASSERT_EQ(scores->num_chunks(), 3);
  EXPECT_EQ(scores->items[5].image_path, root + "/gen/images/000001-002.png");
  // Scores: sample s of every prompt scores s (prompt 1: reversed), so ranks are known.
  for (int64_t c = 0; c < scores->num_chunks(); ++c) {
    ScoreChunkRecord record{c, absl::StrFormat("%016x", scores->fingerprint), {}, 0.1};
    for (int64_t i = scores->FirstItem(c); i < scores->EndItem(c); ++i) {
      const ScoreItem& item = scores->items[i];
      record.scores.push_back(*item.prompt_index == 1 ? 2.0 - *item.sample : static_cast<double>(*item.sample));
    }
    ASSERT_TRUE(WriteScoreChunkRecord(*scores, record).ok());
  }
  ASSERT_TRUE(WriteScores(*scores).ok());
  ScoreChunkRecord nan_record{0, "", {std::nan("")}, 0};
  EXPECT_THAT(WriteScoreChunkRecord(*scores, nan_record).message(), HasSubstr("non-finite score for"));

  const JobSpec pairs = ResolveJobPaths(
      Parse("name: pr\ntype: pairs\ndataset: ds\noutput: pr\npairs: {generated: gen, scores: sc, pairs_per_shard: 4}\n"),
      root);
  absl::StatusOr<PairsLayout> pairs_layout = LayOutPairsJob(pairs);
  ASSERT_TRUE(pairs_layout.ok()) << pairs_layout.status();
  ASSERT_EQ(pairs_layout->pairs.size(), 9u);  // 3 per prompt
  ASSERT_EQ(pairs_layout->plan.chunks.size(), 3u);
  // As the coordinator does when it plans the job.
  ASSERT_TRUE(CheckOrWriteRunFingerprint(pairs_layout->state_dir, pairs_layout->fingerprint, "pairs", {}).ok());
  for (const prepare::WorkChunk& chunk : pairs_layout->plan.chunks) {
    absl::StatusOr<prepare::ChunkRecord> record = WritePairsChunk(*pairs_layout, chunk, ShardDtype::kF32);
    ASSERT_TRUE(record.ok()) << record.status();
    ASSERT_TRUE(prepare::WriteChunkRecord(pairs_layout->state_dir, *record).ok());
  }
  absl::StatusOr<data::Manifest> manifest = FinishPairsDataset(pairs, *pairs_layout);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->shape.latent_channels, 4);
  EXPECT_EQ(manifest->shape.tokens, kTokens);
  EXPECT_EQ(manifest->shape.pooled_dim, kPooled);

  absl::StatusOr<std::unique_ptr<data::PairReader>> reader = data::PairReader::Open(root + "/ds", "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_EQ((*reader)->num_pairs(), 9);
  std::vector<int64_t> all(9);
  for (int64_t i = 0; i < 9; ++i) all[i] = i;
  absl::StatusOr<data::PairBatch> batch = (*reader)->Read(all);
  ASSERT_TRUE(batch.ok()) << batch.status();
  std::map<int64_t, const PlannedPair*> by_id;
  for (const PlannedPair& p : pairs_layout->pairs) by_id[p.pair_id] = &p;
  for (int64_t i = 0; i < 9; ++i) {
    const PlannedPair& planned = *by_id.at(batch->pair_ids[i]);
    // The preferred sample's latents, the prompt's embeddings, the scores and the rank-gap difficulty.
    EXPECT_EQ(batch->latents_w[i * 16], static_cast<float>(planned.preferred));
    EXPECT_EQ(batch->latents_l[i * 16 + 15], static_cast<float>(planned.rejected));
    EXPECT_EQ(batch->prompt_embeds[i * kTokens * kDim], static_cast<float>(planned.prompt_index));
    EXPECT_EQ(batch->pooled_prompt_embeds[i * kPooled], static_cast<float>(planned.prompt_index) + 0.5f);
    EXPECT_EQ(batch->time_ids[i * 6 + 1], 48.f);
    EXPECT_GT(batch->score_w[i], batch->score_l[i]);
    EXPECT_EQ(batch->difficulty[i], -static_cast<float>(planned.rank_gap));
    // Prompt 1 scores reversed: its best sample is sample 0 (id 3).
    if (planned.prompt_index == 1 && planned.rank_gap == 2) {
      EXPECT_EQ(planned.preferred, 3);
      EXPECT_EQ(planned.rejected, 5);
    }
  }
  // The generate job's empty-prompt conditioning, stored with the dataset for
  // train jobs' prompt dropout.
  absl::StatusOr<data::EmptyPrompt> empty = data::EmptyPrompt::Load(root + "/ds", (*reader)->shape());
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->prompt_embeds(), std::vector<float>(kTokens * kDim, ::align::testing::kEmptyPromptValue));
  EXPECT_EQ(empty->pooled_prompt_embeds(), std::vector<float>(kPooled, ::align::testing::kEmptyPromptValue - 1));
}

TEST(CurriculumLayoutTest, PairsNameInputsThatAreNotFinished) {
  TempDir dir;
  const JobSpec pairs = ResolveJobPaths(
      Parse("name: pr\ntype: pairs\ndataset: ds\noutput: pr\npairs: {generated: gen, scores: sc}\n"), dir.path());
  EXPECT_THAT(LayOutPairsJob(pairs).status().message(),
              HasSubstr("pairs.generated: not a finished generate job's output"));
  const JobSpec score = ResolveJobPaths(
      Parse("name: sc\ntype: score\noutput: sc\nscore: {images: list.jsonl, reward: pickscore, reward_model: r}\n"),
      dir.path());
  WriteText(dir.path() + "/list.jsonl", "{\"image\": \"a.png\"}\n");
  EXPECT_THAT(LayOutScoreJob(score).status().message(),
              HasSubstr("list.jsonl:1: expected {\"image\": path, \"prompt\": text}"));
  WriteText(dir.path() + "/list.jsonl", "{\"image\": \"a.png\", \"prompt\": \"p\"}\n");
  absl::StatusOr<ScoreLayout> layout = LayOutScoreJob(score);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->items[0].image_path, dir.path() + "/a.png");
  EXPECT_FALSE(layout->items[0].sample_id.has_value());
}

}  // namespace
}  // namespace align::curriculum
