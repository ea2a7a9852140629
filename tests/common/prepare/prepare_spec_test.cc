// `type: prepare` job specs: the prepare section's fields, defaults and errors.

#include <string>

#include <gtest/gtest.h>

#include "common/job_spec.h"
#include "gmock/gmock.h"

namespace align {
namespace {

using ::testing::HasSubstr;

const std::string kBase = "name: prep\ntype: prepare\nmodel: /m\ndataset: /d\noutput: /o\n";

TEST(PrepareSpecTest, DefaultsAndFormatFromTheInput) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kBase + "prepare: {input: /data/pairs.jsonl}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->prepare.has_value());
  const PrepareSpec& p = *spec->prepare;
  EXPECT_EQ(p.format, PrepareFormat::kJsonl);
  EXPECT_EQ(p.resolution, 1024);
  EXPECT_TRUE(p.center_crop);
  EXPECT_FALSE(p.random_flip);
  EXPECT_EQ(p.latent, LatentMode::kMean);
  EXPECT_EQ(p.pairs_per_shard, 256);
  EXPECT_DOUBLE_EQ(p.max_error_ratio, 0.05);
  EXPECT_EQ(p.heldout, 0);
  EXPECT_EQ(p.dtype, ShardDtype::kF32);
  spec = ParseJobSpec(kBase + "prepare: {input: /data/shards}\n");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->prepare->format, PrepareFormat::kWebDataset);
}

TEST(PrepareSpecTest, EveryField) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kBase +
                                              "seed: 9\n"
                                              "prepare:\n"
                                              "  input: /data/shard-{0..3}.tar\n"
                                              "  format: webdataset\n"
                                              "  resolution: 512\n"
                                              "  center_crop: false\n"
                                              "  random_flip: true\n"
                                              "  latent: sample\n"
                                              "  heldout: 100\n"
                                              "  pairs_per_shard: 64\n"
                                              "  max_error_ratio: 0.1\n"
                                              "  batch_size: 4\n"
                                              "  dtype: bf16\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  const PrepareSpec& p = *spec->prepare;
  EXPECT_EQ(p.resolution, 512);
  EXPECT_FALSE(p.center_crop);
  EXPECT_TRUE(p.random_flip);
  EXPECT_EQ(p.latent, LatentMode::kSample);
  EXPECT_EQ(p.heldout, 100);
  EXPECT_EQ(p.pairs_per_shard, 64);
  EXPECT_DOUBLE_EQ(p.max_error_ratio, 0.1);
  EXPECT_EQ(p.batch_size, 4);
  EXPECT_EQ(p.dtype, ShardDtype::kBf16);
}

TEST(PrepareSpecTest, Errors) {
  const auto error = [](const std::string& yaml) {
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
    return spec.ok() ? std::string("ok") : std::string(spec.status().message());
  };
  EXPECT_THAT(error(kBase), HasSubstr("prepare: required for type prepare"));
  EXPECT_THAT(error(kBase + "prepare: {format: jsonl}\n"), HasSubstr("prepare.input"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, resolution: 4}\n"), HasSubstr("prepare.resolution"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, heldout: 5, heldout_fraction: 0.1}\n"),
              HasSubstr("not both"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, heldout_fraction: 1.0}\n"), HasSubstr("[0, 1)"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, max_error_ratio: 2}\n"), HasSubstr("max_error_ratio"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, latent: mode}\n"), HasSubstr("mean, sample"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, format: parquet}\n"), HasSubstr("jsonl, webdataset"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, center_crop: yes}\n"), HasSubstr("true or false"));
  EXPECT_THAT(error(kBase + "prepare: {input: a.jsonl, flip: true}\n"), HasSubstr("unknown field prepare.flip"));
  EXPECT_THAT(error("name: t\ntype: train\nmodel: /m\ndataset: /d\noutput: /o\nsteps: 1\nloss: {type: dpo}\n"
                    "prepare: {input: a.jsonl}\n"),
              HasSubstr("prepare: only applies to type prepare"));
}

TEST(PrepareSpecTest, FlipImagesAndCropVariants) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(kBase + "prepare: {input: /p.jsonl}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->prepare->flip_images, data::FlipImages::kTogether);
  EXPECT_EQ(spec->prepare->crop_variants, 1);
  spec = ParseJobSpec(kBase + "prepare: {input: /p.jsonl, random_flip: per_step, flip_images: each}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->prepare->flip_images, data::FlipImages::kEach);
  spec = ParseJobSpec(kBase + "prepare: {input: /p.jsonl, random_flip: true, flip_images: each}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->prepare->flip_images, data::FlipImages::kEach);
  spec = ParseJobSpec(kBase + "prepare: {input: /p.jsonl, center_crop: false, crop_variants: 4}\n");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->prepare->crop_variants, 4);

  const auto error = [](const std::string& fields) {
    absl::StatusOr<JobSpec> bad = ParseJobSpec(kBase + "prepare: {input: /p.jsonl, " + fields + "}\n");
    return bad.ok() ? std::string("accepted") : std::string(bad.status().message());
  };
  EXPECT_THAT(error("flip_images: each"), HasSubstr("prepare.flip_images: only applies with random_flip"));
  EXPECT_THAT(error("random_flip: true, flip_images: both"), HasSubstr("prepare.flip_images"));
  EXPECT_THAT(error("crop_variants: 2"),
              HasSubstr("prepare.crop_variants: more than one crop needs center_crop: false"));
  EXPECT_THAT(error("center_crop: false, crop_variants: 0"), HasSubstr("prepare.crop_variants: must be in [1, 64]"));
  EXPECT_THAT(error("center_crop: false, crop_variants: 65"), HasSubstr("prepare.crop_variants"));
}

}  // namespace
}  // namespace align
