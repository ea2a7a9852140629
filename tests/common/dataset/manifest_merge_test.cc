// Several writers, one dataset: shards written independently by ShardBuilder
// (as the ranks of a prepare job do) and a manifest merged afterwards, which
// PairReader then opens like any other dataset.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/manifest_merge.h"
#include "common/dataset/reader.h"
#include "common/dataset/shard_builder.h"
#include "gmock/gmock.h"

namespace align::data {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const PairShape kShape = {2, 2, 3, 4, 5, 3};

class ManifestMergeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "manifest_merge_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A shard of pairs with the given ids, each value = id + position / 1000.
  void WriteShard(const std::string& file, const std::vector<int64_t>& ids, const PairShape& shape = kShape) {
    ShardBuilder shard(shape, {safetensors::DType::kF16});
    for (int64_t id : ids) {
      std::vector<float> lw(shape.latent_numel(), id), ll(shape.latent_numel(), -id),
          prompt(shape.prompt_numel(), 0.5f), pooled(shape.pooled_dim, 0.25f), time_ids = {64, 48, 0, 8, 32, 32};
      PairRecord pair{lw, ll, prompt, pooled, time_ids, id};
      ASSERT_TRUE(shard.Add(pair, absl::StrCat("pair ", id)).ok());
    }
    ASSERT_TRUE(shard.Write(dir_ + "/" + file, "train").ok());
  }

  std::string dir_;
};

TEST_F(ManifestMergeTest, MergesShardsFromSeveralWritersIntoOneReadableDataset) {
  WriteShard("train-00000.safetensors", {0, 1, 2});      // rank 0
  WriteShard("train-00001.safetensors", {5, 7});         // rank 1
  WriteShard("heldout-00000.safetensors", {3});          // rank 1
  MergeRequest request;
  request.shape = kShape;
  request.splits = {{"train", {"train-00000.safetensors", "train-00001.safetensors"}},
                    {"heldout", {"heldout-00000.safetensors"}},
                    {"extra", {}}};
  request.source = {{"tool", "test"}};
  absl::StatusOr<Manifest> manifest = WriteMergedManifest(dir_, request);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->splits.at("train").pairs, 5);
  EXPECT_EQ(manifest->splits.at("extra").pairs, 0);

  absl::StatusOr<std::unique_ptr<PairReader>> reader = PairReader::Open(dir_, "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->PairIds(), (std::vector<int64_t>{0, 1, 2, 5, 7}));
  absl::StatusOr<PairBatch> batch = (*reader)->Read({3});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->latents_w[0], 5.0f);
  EXPECT_EQ(batch->time_ids, (std::vector<float>{64, 48, 0, 8, 32, 32}));
  EXPECT_EQ(LoadManifest(dir_)->source["tool"], "test");
}

TEST_F(ManifestMergeTest, RefusesDuplicateIdsMissingFilesAndWrongShapes) {
  WriteShard("a.safetensors", {0, 1});
  WriteShard("b.safetensors", {1, 2});
  MergeRequest request;
  request.shape = kShape;
  request.splits = {{"train", {"a.safetensors"}}, {"heldout", {"b.safetensors"}}};
  absl::StatusOr<Manifest> merged = WriteMergedManifest(dir_, request);
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(merged.status().message(), HasSubstr("pair id 1"));
  EXPECT_FALSE(fs::exists(dir_ + "/manifest.json"));  // nothing written on failure

  request.splits = {{"train", {"a.safetensors", "missing.safetensors"}}};
  merged = WriteMergedManifest(dir_, request);
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(merged.status().message(), HasSubstr("missing.safetensors"));

  PairShape other = kShape;
  other.context_dim = 6;
  WriteShard("c.safetensors", {9}, other);
  request.splits = {{"train", {"c.safetensors"}}};
  merged = WriteMergedManifest(dir_, request);
  ASSERT_FALSE(merged.ok());
  EXPECT_THAT(merged.status().message(), HasSubstr("prompt_embeds"));
}

TEST(ShardBuilderTest, ValidatesLikeTheWriter) {
  ShardBuilder shard(kShape, {});
  std::vector<float> lw(kShape.latent_numel()), prompt(kShape.prompt_numel()), pooled(kShape.pooled_dim),
      time_ids(6);
  PairRecord pair{lw, lw, prompt, pooled, time_ids, 1};
  EXPECT_TRUE(shard.Validate(pair, "p").ok());
  std::vector<float> short_pooled(2);
  PairRecord bad{lw, lw, prompt, short_pooled, time_ids, 1};
  EXPECT_THAT(shard.Validate(bad, "pair 1").message(), HasSubstr("pair 1: pooled_prompt_embeds has 2 values"));
  std::vector<float> nan_prompt(kShape.prompt_numel(), std::nanf(""));
  PairRecord nan{lw, lw, nan_prompt, pooled, time_ids, 1};
  EXPECT_THAT(shard.Validate(nan, "p").message(), HasSubstr("non-finite"));
  EXPECT_FALSE(shard.Add(nan, "p").ok());
  EXPECT_EQ(shard.size(), 0);
}

}  // namespace
}  // namespace align::data
