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

// A dataset of crop variants and per-image flips: format 2, whose manifest and
// crop_* tensors the reader takes, while a format-1 manifest may not carry them.
TEST_F(ManifestMergeTest, CropVariantsAndPerImageFlipsMakeAFormat2DatasetThatReads) {
  ShardOptions options;
  options.has_flipped_latents = true;
  options.crop_variants = 3;
  ShardBuilder shard(kShape, options);
  const int64_t n = kShape.latent_numel();
  for (int64_t id : {4, 9}) {
    std::vector<float> lw(n, id), ll(n, -id), fw(n, id + 0.5f), fl(n, -id - 0.5f),
        prompt(kShape.prompt_numel(), 0.5f), pooled(kShape.pooled_dim, 0.25f), time_ids = {64, 48, 0, 0, 32, 32};
    std::vector<float> crop_w, crop_l, crop_fw, crop_fl, crop_time_ids;
    for (int c = 1; c < 3; ++c) {
      crop_w.insert(crop_w.end(), n, id + 10 * c);
      crop_l.insert(crop_l.end(), n, -id - 10 * c);
      crop_fw.insert(crop_fw.end(), n, id + 10 * c + 0.5f);
      crop_fl.insert(crop_fl.end(), n, -id - 10 * c - 0.5f);
      crop_time_ids.insert(crop_time_ids.end(), {64, 48, static_cast<float>(c), static_cast<float>(2 * c), 32, 32});
    }
    PairRecord pair{lw, ll, prompt, pooled, time_ids, id};
    pair.latents_flipped_w = fw;
    pair.latents_flipped_l = fl;
    pair.crop_latents_w = crop_w;
    pair.crop_latents_l = crop_l;
    pair.crop_time_ids = crop_time_ids;
    pair.crop_latents_flipped_w = crop_fw;
    pair.crop_latents_flipped_l = crop_fl;
    ASSERT_TRUE(shard.Add(pair, absl::StrCat("pair ", id)).ok());
    // Without its crops a pair does not fit such a shard.
    PairRecord short_pair = pair;
    short_pair.crop_time_ids = {};
    EXPECT_THAT(shard.Validate(short_pair, "short").message(), HasSubstr("crop_time_ids"));
  }
  ASSERT_TRUE(shard.Write(dir_ + "/train-00000.safetensors", "train").ok());
  MergeRequest request;
  request.shape = kShape;
  request.has_flipped_latents = true;
  request.flip_images = FlipImages::kEach;
  request.crop_variants = 3;
  request.splits = {{"train", {"train-00000.safetensors"}}, {"heldout", {}}};
  absl::StatusOr<Manifest> manifest = WriteMergedManifest(dir_, request);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  const std::string text = SerializeManifest(*manifest);
  EXPECT_THAT(text, HasSubstr("\"format\": \"align-pairs/2\""));
  EXPECT_THAT(text, HasSubstr("\"crop_variants\": 3"));
  EXPECT_THAT(text, HasSubstr("\"flip_images\": \"each\""));

  absl::StatusOr<std::unique_ptr<PairReader>> reader = PairReader::Open(dir_, "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<PairBatch> batch = (*reader)->Read({1});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->crop_variants, 3);
  EXPECT_EQ(batch->flip_images, FlipImages::kEach);
  ASSERT_EQ(static_cast<int64_t>(batch->crop_latents_w.size()), 2 * n);
  EXPECT_EQ(batch->crop_latents_w[0], 19);
  EXPECT_EQ(batch->crop_latents_flipped_l[n], -29.5f);
  EXPECT_EQ(batch->crop_time_ids, (std::vector<float>{64, 48, 1, 2, 32, 32, 64, 48, 2, 4, 32, 32}));

  // The version names what the manifest uses, both ways.
  std::string v1 = text;
  v1.replace(v1.find("align-pairs/2"), 13, "align-pairs/1");
  EXPECT_THAT(ParseManifest(v1, "m").status().message(), HasSubstr("need align-pairs/2"));
  Manifest plain = *manifest;
  plain.crop_variants = 1;
  plain.flip_images = FlipImages::kTogether;
  std::string v2 = SerializeManifest(plain);
  EXPECT_THAT(v2, HasSubstr("align-pairs/1"));
  v2.replace(v2.find("align-pairs/1"), 13, "align-pairs/2");
  EXPECT_THAT(ParseManifest(v2, "m").status().message(), HasSubstr("format"));
  // Per-image flips are a way of drawing the stored flipped latents.
  request.has_flipped_latents = false;
  EXPECT_FALSE(WriteMergedManifest(dir_, request).ok());
}

}  // namespace
}  // namespace align::data
