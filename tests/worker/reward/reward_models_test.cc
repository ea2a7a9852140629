#include "worker/reward/reward_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/imaging/clip_preprocess.h"
#include "common/reward_name.h"
#include "nlohmann/json.hpp"
#include "worker/models/clip_model.h"
#include "worker/models/weights_io.h"
#include "worker/reward/aesthetic_reward.h"
#include "worker/reward/clip_image_embedder.h"
#include "worker/reward/clip_similarity_reward.h"
#include "worker/reward/openclip_convert.h"
#include "worker/tools/max_relative_error.h"

namespace align::reward {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, torch::Tensor>;

const std::string kGolden = ALIGN_GOLDEN_DIR;
const std::string kVision = kGolden + "/tiny-clip-vision";
const torch::Device kCpu(torch::kCPU);

TensorMap Io(const std::string& path) {
  auto io = models::ReadTensors(path);
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("align_reward_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A reward folder: `model_dir`'s config.json + model.safetensors, the
// clip-preprocess fixture's preprocessor_config.json (32x32, as the tiny
// models take) and the tokenizer fixture in tokenizer/.
fs::path RewardFolder(const std::string& name, const std::string& model_dir) {
  const fs::path dir = TempDir(name);
  fs::copy_file(model_dir + "/config.json", dir / "config.json");
  fs::copy_file(model_dir + "/model.safetensors", dir / "model.safetensors");
  fs::copy_file(kGolden + "/clip-preprocess/preprocessor_config.json", dir / "preprocessor_config.json");
  fs::create_directories(dir / "tokenizer");
  for (const char* file : {"vocab.json", "merges.txt"}) {
    fs::copy_file(kGolden + "/tokenizer/tokenizer/" + file, dir / "tokenizer" / file);
  }
  return dir;
}

std::vector<std::string> FixturePrompts() {
  std::ifstream in(kGolden + "/tokenizer/expected.json");
  const nlohmann::json expected = nlohmann::json::parse(in);
  std::vector<std::string> prompts;
  for (int i = 0; i < 3; ++i) prompts.push_back(expected.at("prompts")[i].get<std::string>());
  return prompts;
}

std::vector<imaging::RgbImage> FixtureImages() {
  const TensorMap io = Io(kGolden + "/clip-preprocess/io.safetensors");
  std::vector<imaging::RgbImage> images;
  for (int i = 0; i < 3; ++i) {
    const torch::Tensor t = io.at("image_" + std::to_string(i)).contiguous();
    imaging::RgbImage image(static_cast<int>(t.size(1)), static_cast<int>(t.size(0)));
    std::memcpy(image.pixels.data(), t.data_ptr<uint8_t>(), image.pixels.size());
    images.push_back(image);
  }
  return images;
}

torch::Tensor Pixels(const std::vector<imaging::RgbImage>& images, imaging::CenterCropRounding rounding) {
  auto config = imaging::LoadClipImageProcessorConfig(kGolden + "/clip-preprocess/preprocessor_config.json");
  EXPECT_TRUE(config.ok());
  config->crop_rounding = rounding;
  std::vector<torch::Tensor> rows;
  for (const auto& image : images) {
    auto pixels = imaging::PreprocessClipImage(image, *config);
    EXPECT_TRUE(pixels.ok());
    rows.push_back(torch::from_blob(pixels->chw.data(), {3, pixels->height, pixels->width}, torch::kFloat).clone());
  }
  return torch::stack(rows);
}

torch::Tensor Tensor(const std::vector<double>& values) {
  return torch::tensor(values, torch::kDouble).to(torch::kFloat);
}

std::unique_ptr<ClipSimilarityReward> LoadSimilarity(RewardName name, const fs::path& dir) {
  auto reward = ClipSimilarityReward::Load(name, dir.string(), kCpu);
  EXPECT_TRUE(reward.ok()) << reward.status();
  return reward.ok() ? std::move(*reward) : nullptr;
}

double LogitScaleExp() {
  auto clip = models::LoadClipModel(kVision + "/clip", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(clip.ok());
  return (*clip)->LogitScaleExp();
}

TEST(RewardNameTest, NamesRoundTripAndUnknownNamesListTheKnownOnes) {
  for (RewardName name : {RewardName::kPickScore, RewardName::kClipScore, RewardName::kAesthetic, RewardName::kHpsV2}) {
    auto parsed = ParseRewardName(RewardNameString(name));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, name);
  }
  auto unknown = ParseRewardName("imagereward");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("pickscore"), std::string::npos);
}

TEST(RewardFormulaTest, ScoresFromCosine) {
  EXPECT_DOUBLE_EQ(ScoreFromCosine(RewardName::kPickScore, 0.25, 100.0), 25.0);
  EXPECT_DOUBLE_EQ(ScoreFromCosine(RewardName::kClipScore, 0.31, 100.0), 31.0);
  EXPECT_DOUBLE_EQ(ScoreFromCosine(RewardName::kClipScore, -0.2, 100.0), 0.0);  // clamped at 0
  EXPECT_DOUBLE_EQ(ScoreFromCosine(RewardName::kHpsV2, 0.27, 100.0), 0.27);
}

TEST(PickScoreTest, ScoringCoreReproducesTheFixtureScore) {
  const TensorMap io = Io(kVision + "/io.safetensors");
  auto reward = LoadSimilarity(RewardName::kPickScore, RewardFolder("pickscore_core", kVision + "/clip"));
  ASSERT_NE(reward, nullptr);
  const std::vector<double> scores = reward->ScorePairs(io.at("pixel_values"), io.at("input_ids"));
  EXPECT_LT(tools::MaxRelativeError(Tensor(scores), io.at("clip.score")), 1e-4);
}

TEST(PickScoreTest, WholePathPreprocessesAndTokenizesLikeTheReference) {
  auto reward = LoadSimilarity(RewardName::kPickScore, RewardFolder("pickscore_path", kVision + "/clip"));
  ASSERT_NE(reward, nullptr);
  const std::vector<imaging::RgbImage> images = FixtureImages();
  auto scores = reward->Score(images, FixturePrompts());
  ASSERT_TRUE(scores.ok()) << scores.status();
  // The prompts are the fixture's input_ids; the images go through the Pillow-exact preprocessing.
  const TensorMap io = Io(kVision + "/io.safetensors");
  const std::vector<double> expected =
      reward->ScorePairs(Pixels(images, imaging::CenterCropRounding::kFloor), io.at("input_ids"));
  ASSERT_EQ(scores->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR((*scores)[i], expected[i], 1e-4 * std::fabs(expected[i]) + 1e-6);

  auto mismatched = reward->Score(images, {"one prompt"});
  EXPECT_FALSE(mismatched.ok());
}

TEST(ClipScoreTest, IsHundredTimesTheClampedCosine) {
  const TensorMap io = Io(kVision + "/io.safetensors");
  auto reward = LoadSimilarity(RewardName::kClipScore, RewardFolder("clipscore", kVision + "/clip"));
  ASSERT_NE(reward, nullptr);
  const std::vector<double> scores = reward->ScorePairs(io.at("pixel_values"), io.at("input_ids"));
  const double scale = LogitScaleExp();
  const torch::Tensor cosine = io.at("clip.score").to(torch::kDouble) / scale;
  for (size_t i = 0; i < scores.size(); ++i) {
    const double c = cosine[static_cast<int64_t>(i)].item<double>();
    EXPECT_NEAR(scores[i], 100.0 * std::max(c, 0.0), 1e-3) << i;
  }
}

TEST(HpsV2Test, ConvertedOpenClipCheckpointReproducesTheFixture) {
  const fs::path out = TempDir("hps_converted");
  OpenClipConvertOptions options;
  options.in_path = kGolden + "/tiny-openclip/open_clip_model.safetensors";
  options.config_path = kGolden + "/tiny-openclip/open_clip_config.json";
  options.out_dir = out.string();
  options.tokenizer_dir = kGolden + "/tokenizer/tokenizer";
  ASSERT_TRUE(ConvertOpenClip(options).ok());

  const TensorMap io = Io(kVision + "/io.safetensors");
  auto clip = models::LoadClipModel(out.string(), torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(clip.ok()) << clip.status();
  torch::NoGradGuard no_grad;
  const models::ClipModelOutput logits = (*clip)->forward(io.at("input_ids"), io.at("pixel_values"));
  EXPECT_LT(tools::MaxRelativeError(logits.logits_per_image, io.at("clip.logits_per_image")), 1e-4);

  auto reward = LoadSimilarity(RewardName::kHpsV2, out);
  ASSERT_NE(reward, nullptr);
  const std::vector<double> scores = reward->ScorePairs(io.at("pixel_values"), io.at("input_ids"));
  const torch::Tensor cosine = io.at("clip.score") / static_cast<float>(LogitScaleExp());
  EXPECT_LT(tools::MaxRelativeError(Tensor(scores), cosine), 1e-4);
  auto whole = reward->Score(FixtureImages(), FixturePrompts());
  ASSERT_TRUE(whole.ok()) << whole.status();
}

TEST(HpsV2Test, ConverterNamesMissingAndUnknownKeys) {
  const fs::path dir = TempDir("hps_bad");
  TensorMap tensors = Io(kGolden + "/tiny-openclip/open_clip_model.safetensors");
  tensors.erase("visual.proj");
  tensors["visual.attnpool.weight"] = torch::zeros({2});
  ASSERT_TRUE(models::WriteTensors((dir / "in.safetensors").string(), tensors).ok());
  OpenClipConvertOptions options;
  options.in_path = (dir / "in.safetensors").string();
  options.config_path = kGolden + "/tiny-openclip/open_clip_config.json";
  options.out_dir = (dir / "out").string();
  const absl::Status status = ConvertOpenClip(options);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("visual.proj"), std::string::npos) << status;
}

// A tiny aesthetic head with the published layout on 24-wide embeddings.
TensorMap TinyHead() {
  torch::manual_seed(7);
  TensorMap head;
  const int64_t widths[] = {24, 16, 8, 6, 4, 1};
  const int indices[] = {0, 2, 4, 6, 7};
  for (int i = 0; i < 5; ++i) {
    head["layers." + std::to_string(indices[i]) + ".weight"] = torch::randn({widths[i + 1], widths[i]});
    head["layers." + std::to_string(indices[i]) + ".bias"] = torch::randn({widths[i + 1]});
  }
  return head;
}

TEST(AestheticTest, HeadIsTheLinearStackOnNormalisedEmbeddings) {
  const fs::path dir = RewardFolder("aesthetic", kVision + "/clip");
  const TensorMap head = TinyHead();
  ASSERT_TRUE(models::WriteTensors((dir / kAestheticHeadFile).string(), head).ok());
  auto loaded = AestheticReward::Load(dir.string(), kCpu);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  AestheticReward& reward = **loaded;

  // By hand, in double: x -> W0 x + b0 -> ... -> W7 h + b7.
  const TensorMap io = Io(kVision + "/io.safetensors");
  const torch::Tensor x = io.at("clip.image_embeds").to(torch::kDouble);  // normalised
  torch::Tensor h = x;
  for (int index : {0, 2, 4, 6, 7}) {
    const std::string prefix = "layers." + std::to_string(index);
    h = torch::matmul(h, head.at(prefix + ".weight").to(torch::kDouble).t()) + head.at(prefix + ".bias").to(torch::kDouble);
  }
  const std::vector<double> scores = reward.ScoreEmbeddings(io.at("clip.image_embeds"));
  ASSERT_EQ(scores.size(), 3u);
  for (int64_t i = 0; i < 3; ++i) EXPECT_NEAR(scores[i], h[i][0].item<double>(), 1e-4 * (1 + std::fabs(scores[i])));

  // The whole path: images -> preprocessing -> image tower -> normalise -> head.
  const std::vector<imaging::RgbImage> images = FixtureImages();
  auto whole = reward.Score(images, FixturePrompts());
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto embedder = ClipImageEmbedder::Load(dir.string(), kCpu);
  ASSERT_TRUE(embedder.ok());
  const std::vector<double> expected =
      reward.ScoreEmbeddings((*embedder)->EmbedPixels(Pixels(images, imaging::CenterCropRounding::kRoundHalfEven)));
  for (size_t i = 0; i < 3; ++i) EXPECT_NEAR((*whole)[i], expected[i], 1e-4 * (1 + std::fabs(expected[i])));
}

TEST(ClipImageEmbedderTest, NormalisedEmbeddingsFromEitherFolderKind) {
  const TensorMap io = Io(kVision + "/io.safetensors");
  auto from_clip = ClipImageEmbedder::Load(RewardFolder("embed_clip", kVision + "/clip").string(), kCpu);
  ASSERT_TRUE(from_clip.ok()) << from_clip.status();
  const torch::Tensor embeds = (*from_clip)->EmbedPixels(io.at("pixel_values"));
  EXPECT_LT(tools::MaxRelativeError(embeds, io.at("clip.image_embeds")), 1e-4);

  auto from_encoder = ClipImageEmbedder::Load(RewardFolder("embed_enc", kVision + "/image_encoder").string(), kCpu);
  ASSERT_TRUE(from_encoder.ok()) << from_encoder.status();
  const torch::Tensor enc = (*from_encoder)->EmbedPixels(io.at("pixel_values"));
  const torch::Tensor expected = io.at("image_encoder.image_embeds");
  EXPECT_LT(tools::MaxRelativeError(enc, expected / expected.norm(2, -1, true)), 1e-4);
  auto images = (*from_encoder)->Embed(FixtureImages());
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->size(0), 3);
}

TEST(RewardFolderTest, WrongFolderKindsNameWhatWasExpectedAndFound) {
  // A CLIPVisionModel folder given for PickScore.
  auto vision = LoadRewardModel(RewardName::kPickScore, RewardFolder("wrong_vision", kVision + "/image_encoder").string(), kCpu);
  ASSERT_FALSE(vision.ok());
  EXPECT_NE(vision.status().message().find("expected a CLIPModel folder"), std::string::npos) << vision.status();
  EXPECT_NE(vision.status().message().find("CLIPVisionModelWithProjection"), std::string::npos) << vision.status();

  // A UNet folder.
  auto unet = LoadRewardModel(RewardName::kHpsV2, kGolden + "/tiny-sdxl/unet", kCpu);
  ASSERT_FALSE(unet.ok());
  EXPECT_NE(unet.status().message().find("UNet2DConditionModel"), std::string::npos) << unet.status();

  // A CLIP folder without the aesthetic head, and one without preprocessing settings.
  auto no_head = LoadRewardModel(RewardName::kAesthetic, RewardFolder("no_head", kVision + "/clip").string(), kCpu);
  ASSERT_FALSE(no_head.ok());
  EXPECT_NE(no_head.status().message().find(kAestheticHeadFile), std::string::npos) << no_head.status();
  const fs::path bare = RewardFolder("no_preprocess", kVision + "/clip");
  fs::remove(bare / "preprocessor_config.json");
  auto no_preprocess = LoadRewardModel(RewardName::kClipScore, bare.string(), kCpu);
  ASSERT_FALSE(no_preprocess.ok());
  EXPECT_NE(no_preprocess.status().message().find("preprocessor_config.json"), std::string::npos)
      << no_preprocess.status();
}

}  // namespace
}  // namespace align::reward
