#include "worker/models/clip_vision_model.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/diffusers/clip_model_config.h"
#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "worker/models/clip_model.h"
#include "worker/models/weights_io.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, torch::Tensor>;

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-clip-vision";
const auto kFloat = torch::TensorOptions().dtype(torch::kFloat);

TensorMap Io() {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("align_clip_vision_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(ClipVisionModelTest, ImageEncoderMatchesTransformers) {
  const TensorMap io = Io();
  auto model = LoadClipVisionModel(kTiny + "/image_encoder", kFloat);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_TRUE((*model)->with_projection());
  torch::NoGradGuard no_grad;
  ClipVisionOutput out = (*model)->forward(io.at("pixel_values"));
  ASSERT_EQ(out.hidden_states.size(), 4u);
  EXPECT_LT(tools::MaxRelativeError(out.image_embeds, io.at("image_encoder.image_embeds")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(out.last_hidden_state, io.at("image_encoder.last_hidden_state")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(out.penultimate(), io.at("image_encoder.penultimate")), 1e-4);
}

TEST(ClipVisionModelTest, WholeClipMatchesTransformers) {
  const TensorMap io = Io();
  auto model = LoadClipModel(kTiny + "/clip", kFloat);
  ASSERT_TRUE(model.ok()) << model.status();
  torch::NoGradGuard no_grad;
  ClipModelOutput out = (*model)->forward(io.at("input_ids"), io.at("pixel_values"));
  EXPECT_LT(tools::MaxRelativeError(out.text_embeds, io.at("clip.text_embeds")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(out.image_embeds, io.at("clip.image_embeds")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(out.logits_per_image, io.at("clip.logits_per_image")), 1e-4);
  EXPECT_LT(tools::MaxRelativeError(out.logits_per_image.diagonal(), io.at("clip.score")), 1e-4);
}

TEST(ClipVisionModelTest, ImageTowerOfAClipModelFolderMatchesItsImageEmbeds) {
  const TensorMap io = Io();
  auto tower = LoadClipImageTower(kTiny + "/clip", kFloat);
  ASSERT_TRUE(tower.ok()) << tower.status();
  torch::NoGradGuard no_grad;
  // The fixture's clip.image_embeds are CLIPModel.forward's: L2-normalised.
  torch::Tensor embeds = (*tower)->forward(io.at("pixel_values")).image_embeds;
  EXPECT_LT(tools::MaxRelativeError(embeds / embeds.norm(2, -1, true), io.at("clip.image_embeds")), 1e-4);
  auto encoder = LoadClipImageTower(kTiny + "/image_encoder", kFloat);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
}

TEST(ClipVisionModelTest, LegacyPositionIdsAreIgnored) {
  const fs::path dir = TempDir("position_ids");
  fs::copy_file(kTiny + "/clip/config.json", dir / "config.json");
  auto tensors = ReadTensors(kTiny + "/clip/model.safetensors");
  ASSERT_TRUE(tensors.ok());
  (*tensors)["text_model.embeddings.position_ids"] = torch::arange(77, torch::kLong).unsqueeze(0);
  (*tensors)["vision_model.embeddings.position_ids"] = torch::arange(17, torch::kLong).unsqueeze(0);
  ASSERT_TRUE(WriteTensors((dir / "model.safetensors").string(), *tensors).ok());
  EXPECT_TRUE(LoadClipModel(dir.string(), kFloat).ok());
}

TEST(ClipVisionModelTest, WrongFolderKindsNameWhatWasExpectedAndFound) {
  auto vision_as_clip = LoadClipModel(kTiny + "/image_encoder", kFloat);
  ASSERT_FALSE(vision_as_clip.ok());
  EXPECT_NE(vision_as_clip.status().message().find("expected a CLIPModel folder"), std::string::npos)
      << vision_as_clip.status();
  EXPECT_NE(vision_as_clip.status().message().find("CLIPVisionModelWithProjection"), std::string::npos)
      << vision_as_clip.status();

  auto unet = LoadClipModel(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet", kFloat);
  ASSERT_FALSE(unet.ok());
  EXPECT_NE(unet.status().message().find("UNet2DConditionModel"), std::string::npos) << unet.status();

  auto clip_as_vision = LoadClipVisionModel(kTiny + "/clip", kFloat);
  ASSERT_FALSE(clip_as_vision.ok());
  EXPECT_NE(clip_as_vision.status().message().find("model_type 'clip'"), std::string::npos)
      << clip_as_vision.status();

  auto text_as_tower = LoadClipImageTower(std::string(ALIGN_GOLDEN_DIR) + "/tiny-clip/text_encoder", kFloat);
  ASSERT_FALSE(text_as_tower.ok());
  EXPECT_NE(text_as_tower.status().message().find("clip_text_model"), std::string::npos) << text_as_tower.status();
}

TEST(ClipVisionModelTest, ConfigsRejectUnsupportedOptionsByName) {
  auto text = ReadFileToString(kTiny + "/clip/config.json");
  ASSERT_TRUE(text.ok());
  nlohmann::json config = nlohmann::json::parse(*text);
  config["vision_config"]["use_rope"] = true;
  auto parsed = diffusers::ParseClipModelConfig(config.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("use_rope"), std::string::npos) << parsed.status();

  config = nlohmann::json::parse(*text);
  config["vision_config"]["hidden_act"] = "relu";
  parsed = diffusers::ParseClipModelConfig(config.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("relu"), std::string::npos) << parsed.status();

  // transformers 4's *_config_dict values override the sub-configs.
  config = nlohmann::json::parse(*text);
  config["vision_config_dict"] = {{"num_hidden_layers", 5}};
  parsed = diffusers::ParseClipModelConfig(config.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->vision.num_hidden_layers, 5);
  EXPECT_EQ(parsed->vision.patch_size, 8);
  EXPECT_EQ(parsed->projection_dim, 24);
}

}  // namespace
}  // namespace align::models
