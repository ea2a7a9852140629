// alignctl make-synthetic: shapes from the model's config, determinism, the
// learnable preference, and the command's exit statuses.

#include "coordinator/alignctl/make_synthetic.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/dataset/reader.h"
#include "common/dataset/synthetic.h"
#include "common/file_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace align {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTinyModel = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

using align::testing::TempDir;

// name -> bytes of every file in `dir`.
std::map<std::string, std::string> Files(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    files[entry.path().filename().string()] = *ReadFileToString(entry.path().string());
  }
  return files;
}

alignctl::MakeSyntheticOptions Options(const std::string& out, uint64_t seed) {
  alignctl::MakeSyntheticOptions options;
  options.model_dir = kTinyModel;
  options.out_dir = out;
  options.pairs = 20;
  options.heldout = 6;
  options.seed = seed;
  options.tokens = 8;
  options.pairs_per_shard = 8;
  return options;
}

int RunTool(const alignctl::MakeSyntheticOptions& options, std::string* err = nullptr) {
  std::ostringstream out, errors;
  const int rc = alignctl::RunMakeSynthetic(options, out, errors);
  if (err != nullptr) *err = errors.str();
  return rc;
}

TEST(MakeSyntheticTest, ShapeFromTheModelConfig) {
  absl::StatusOr<data::PairShape> shape = alignctl::SyntheticShapeForModel(kTinyModel, 0, 0, 8);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(shape->latent_channels, 4);  // in_channels
  EXPECT_EQ(shape->latent_height, 16);   // sample_size
  EXPECT_EQ(shape->latent_width, 16);
  EXPECT_EQ(shape->tokens, 8);
  EXPECT_EQ(shape->context_dim, 64);  // cross_attention_dim
  EXPECT_EQ(shape->pooled_dim,
            80 - 6 * 8);  // projection_class_embeddings_input_dim - 6 * addition_time_embed_dim

  absl::StatusOr<data::PairShape> sized = alignctl::SyntheticShapeForModel(kTinyModel, 8, 12, 77);
  ASSERT_TRUE(sized.ok());
  EXPECT_EQ(sized->latent_height, 8);
  EXPECT_EQ(sized->latent_width, 12);
  EXPECT_EQ(sized->tokens, 77);

  EXPECT_EQ(alignctl::SyntheticShapeForModel("/nonexistent", 0, 0, 8).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(MakeSyntheticTest, ParsesLatentSize) {
  EXPECT_EQ(*alignctl::ParseLatentSize("32"), std::make_pair(int64_t{32}, int64_t{32}));
  EXPECT_EQ(*alignctl::ParseLatentSize("16x24"), std::make_pair(int64_t{16}, int64_t{24}));
  for (const char* bad : {"", "x", "0", "16x", "16x0", "-4", "a", "1x2x3", "100000"}) {
    EXPECT_FALSE(alignctl::ParseLatentSize(bad).ok()) << bad;
  }
}

TEST(MakeSyntheticTest, SameSeedSameBytesOtherSeedOtherBytes) {
  TempDir a, b, c;
  ASSERT_EQ(RunTool(Options(a.File("ds"), 7)), 0);
  ASSERT_EQ(RunTool(Options(b.File("ds"), 7)), 0);
  ASSERT_EQ(RunTool(Options(c.File("ds"), 8)), 0);
  const auto files_a = Files(a.File("ds"));
  EXPECT_EQ(files_a.size(), 1u + 3u + 1u);  // manifest, 20 train pairs in 3 shards, 6 heldout in 1
  EXPECT_EQ(files_a, Files(b.File("ds")));
  const auto files_c = Files(c.File("ds"));
  ASSERT_EQ(files_c.size(), files_a.size());
  for (const auto& [name, bytes] : files_a) {
    if (name != "manifest.json") EXPECT_NE(bytes, files_c.at(name)) << name;
  }
}

TEST(MakeSyntheticTest, WritesALearnablePreference) {
  TempDir dir;
  ASSERT_EQ(RunTool(Options(dir.File("ds"), 3)), 0);
  auto train = data::PairReader::Open(dir.File("ds"), "train");
  auto heldout = data::PairReader::Open(dir.File("ds"), "heldout");
  ASSERT_TRUE(train.ok()) << train.status();
  ASSERT_TRUE(heldout.ok()) << heldout.status();
  EXPECT_EQ((*train)->num_pairs(), 20);
  EXPECT_EQ((*heldout)->num_pairs(), 6);
  EXPECT_TRUE((*train)->manifest().has_difficulty);

  std::vector<int64_t> expected_ids(20);
  for (int64_t i = 0; i < 20; ++i) expected_ids[i] = i;
  EXPECT_EQ((*train)->PairIds(), expected_ids);
  EXPECT_EQ((*heldout)->PairIds(), (std::vector<int64_t>{20, 21, 22, 23, 24, 25}));

  const data::PairShape& shape = (*train)->shape();
  const std::vector<float> style = data::SyntheticStyleTemplate(shape, 3);
  std::vector<int64_t> all(20);
  for (int64_t i = 0; i < 20; ++i) all[i] = i;
  absl::StatusOr<data::PairBatch> batch = (*train)->Read(all);
  ASSERT_TRUE(batch.ok()) << batch.status();
  const int64_t n = shape.latent_numel();
  double pooled_sum_sq = 0;
  for (int64_t p = 0; p < 20; ++p) {
    // The winner leans towards the template, the loser away from it.
    double along_w = 0, along_l = 0, energy = 0;
    for (int64_t i = 0; i < n; ++i) {
      along_w += batch->latents_w[p * n + i] * style[i];
      along_l += batch->latents_l[p * n + i] * style[i];
      energy += batch->latents_w[p * n + i] * batch->latents_w[p * n + i];
    }
    EXPECT_GT(along_w / n, 0.1) << "pair " << p;
    EXPECT_LT(along_l / n, -0.1) << "pair " << p;
    EXPECT_GT(energy / n, 0.2);
    EXPECT_LT(energy / n, 3.0);
    EXPECT_GE(batch->difficulty[p], 0.0f);
    EXPECT_LE(batch->difficulty[p], 1.0f);
    EXPECT_GT(batch->score_w[p], batch->score_l[p]);
    const std::vector<float> time_ids(batch->time_ids.begin() + p * 6, batch->time_ids.begin() + p * 6 + 6);
    EXPECT_EQ(time_ids, (std::vector<float>{128, 128, 0, 0, 128, 128}));
    for (int64_t i = 0; i < shape.pooled_dim; ++i) {
      pooled_sum_sq += batch->pooled_prompt_embeds[p * shape.pooled_dim + i] *
                       batch->pooled_prompt_embeds[p * shape.pooled_dim + i];
    }
  }
  // Prompt embeddings are N(0, 1).
  EXPECT_NEAR(pooled_sum_sq / (20 * shape.pooled_dim), 1.0, 0.2);
  // Difficulty varies across pairs, for curricula to order by.
  EXPECT_NE(*std::min_element(batch->difficulty.begin(), batch->difficulty.end()),
            *std::max_element(batch->difficulty.begin(), batch->difficulty.end()));
}

TEST(MakeSyntheticTest, StyleTemplateIsSmoothWithUnitRms) {
  const data::PairShape shape = {4, 16, 16, 8, 64, 32};
  const std::vector<float> style = data::SyntheticStyleTemplate(shape, 11);
  for (int64_t c = 0; c < 4; ++c) {
    double sum_sq = 0, step_sq = 0;
    for (int64_t y = 0; y < 16; ++y) {
      for (int64_t x = 0; x < 16; ++x) {
        const float v = style[(c * 16 + y) * 16 + x];
        sum_sq += v * v;
        if (x > 0) step_sq += std::pow(v - style[(c * 16 + y) * 16 + x - 1], 2);
      }
    }
    EXPECT_NEAR(sum_sq / 256, 1.0, 1e-4);
    EXPECT_LT(step_sq / (16 * 15), 0.5);  // neighbours are close: low frequency
  }
  EXPECT_NE(style, data::SyntheticStyleTemplate(shape, 12));
}

TEST(MakeSyntheticTest, HalfPrecisionStorage) {
  TempDir dir;
  alignctl::MakeSyntheticOptions options = Options(dir.File("ds"), 1);
  options.dtype = "bf16";
  ASSERT_EQ(RunTool(options), 0);
  auto train = data::PairReader::Open(dir.File("ds"), "train");
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_TRUE((*train)->Read({0, 19}).ok());
}

TEST(MakeSyntheticTest, UsageErrorsExitTwo) {
  TempDir dir;
  std::string err;
  alignctl::MakeSyntheticOptions options = Options(dir.File("ds"), 1);
  options.model_dir = dir.File("no-model");
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("no-model"));

  options = Options(dir.File("ds"), 1);
  options.pairs = 0;
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("--pairs"));

  options = Options(dir.File("ds"), 1);
  options.heldout = -1;
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("--heldout"));

  options = Options(dir.File("ds"), 1);
  options.latent_size = "big";
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("--latent-size"));

  options = Options(dir.File("ds"), 1);
  options.tokens = 0;
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("--tokens"));

  options = Options(dir.File("ds"), 1);
  options.dtype = "f64";
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);
  EXPECT_THAT(err, HasSubstr("--dtype"));

  options = Options(dir.File("ds"), 1);
  ASSERT_EQ(RunTool(options), 0);
  EXPECT_EQ(RunTool(options, &err), alignctl::kExitUsage);  // the dataset exists
  EXPECT_THAT(err, HasSubstr("--overwrite"));
  options.overwrite = true;
  EXPECT_EQ(RunTool(options), 0);
}

}  // namespace
}  // namespace align
