// The text-to-image loop end to end on tiny models: an SDXL-layout folder
// (tiny-sdxl's UNet, tiny-vae, tiny-clip's encoders with the tokenizer
// fixture), an SD 1.5-layout one (tiny-sd15's UNet, one text encoder) and an
// LCM one. What is checked: shapes, finiteness, the postprocess, input
// validation, and that a sample depends on its (seed, sample id) alone, not on
// its batch. The loop's numerics against diffusers are checked by
// `align-worker verify-sampling` on tiny-sdxl-sampling (tests/CMakeLists.txt).

#include "worker/sampling/image_pipeline.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/diffusers/clip_config.h"
#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"
#include "worker/models/clip_text_model.h"
#include "worker/models/weights_io.h"

namespace align::sampling {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = ALIGN_GOLDEN_DIR;

void Link(const std::string& target, const std::string& dir, const std::string& name) {
  fs::create_directory_symlink(kGolden + "/" + target, fs::path(dir) / name);
}

void WriteText(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// tiny-clip's second encoder with a projection as wide as tiny-sdxl's UNet
// takes pooled text (32; the fixture's projects to 24).
void WriteSecondEncoder(const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(*ReadFileToString(kGolden + "/tiny-clip/text_encoder_2/config.json"));
  config["projection_dim"] = 32;
  WriteText(dir / "config.json", config.dump(2));
  auto weights = models::ReadTensors(kGolden + "/tiny-clip/text_encoder_2/model.safetensors");
  ASSERT_TRUE(weights.ok()) << weights.status();
  torch::manual_seed(11);
  (*weights)["text_projection.weight"] = torch::randn({32, 32}) * 0.2;
  ASSERT_TRUE(models::WriteTensors((dir / "model.safetensors").string(), *weights).ok());
}

// A one-encoder text tower as wide as tiny-sd15's cross attention (48), random weights.
void WriteSd15Encoder(const fs::path& dir) {
  fs::create_directories(dir);
  nlohmann::json config = nlohmann::json::parse(*ReadFileToString(kGolden + "/tiny-clip/text_encoder/config.json"));
  config["hidden_size"] = 48;
  config["intermediate_size"] = 96;
  WriteText(dir / "config.json", config.dump(2));
  auto parsed = diffusers::ParseClipTextConfig(config.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  models::ClipTextModel model(*parsed, /*with_projection=*/false, torch::TensorOptions().dtype(torch::kFloat));
  torch::manual_seed(12);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().find("layer_norm") != std::string::npos && p.key().find("weight") != std::string::npos) {
      p.value().fill_(1.0);
    } else {
      p.value().normal_(0.0, 0.05);
    }
  }
  ASSERT_TRUE(models::SaveParameters(*model, dir.string(), "model", torch::kFloat).ok());
}

class ImagePipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    sdxl_ = new testing::TempDir("image_pipeline_sdxl");
    Link("tiny-sdxl/unet", sdxl_->path(), "unet");
    Link("tiny-vae/vae", sdxl_->path(), "vae");
    Link("tiny-sdxl-sampling/scheduler", sdxl_->path(), "scheduler");
    Link("tokenizer/tokenizer", sdxl_->path(), "tokenizer");
    Link("tokenizer/tokenizer", sdxl_->path(), "tokenizer_2");
    Link("tiny-clip/text_encoder", sdxl_->path(), "text_encoder");
    WriteSecondEncoder(fs::path(sdxl_->path()) / "text_encoder_2");

    sd15_ = new testing::TempDir("image_pipeline_sd15");
    Link("tiny-sd15/unet", sd15_->path(), "unet");
    Link("tiny-vae/vae", sd15_->path(), "vae");
    Link("tiny-sdxl-sampling/scheduler", sd15_->path(), "scheduler");
    Link("tokenizer/tokenizer", sd15_->path(), "tokenizer");
    WriteSd15Encoder(fs::path(sd15_->path()) / "text_encoder");
  }
  static void TearDownTestSuite() {
    delete sdxl_;
    delete sd15_;
  }

  static std::unique_ptr<ImagePipeline> LoadPipeline(const std::string& dir) {
    auto pipeline = ImagePipeline::Load(dir, torch::kCPU);
    EXPECT_TRUE(pipeline.ok()) << pipeline.status();
    return pipeline.ok() ? std::move(*pipeline) : nullptr;
  }

  static GenerationRequest Request(std::vector<std::string> prompts, std::vector<int64_t> ids) {
    GenerationRequest r;
    r.prompts = std::move(prompts);
    r.sample_ids = std::move(ids);
    r.height = 32;  // tiny-vae's factor is 4: latents 8 x 16
    r.width = 64;
    r.steps = 3;
    r.guidance_scale = 5.0;
    r.seed = 42;
    return r;
  }

  static testing::TempDir* sdxl_;
  static testing::TempDir* sd15_;
};
testing::TempDir* ImagePipelineTest::sdxl_ = nullptr;
testing::TempDir* ImagePipelineTest::sd15_ = nullptr;

void ExpectImages(const GeneratedBatch& batch, size_t count, int width, int height) {
  ASSERT_EQ(batch.images.size(), count);
  for (const imaging::RgbImage& image : batch.images) {
    EXPECT_EQ(image.width, width);
    EXPECT_EQ(image.height, height);
    EXPECT_EQ(image.pixels.size(), static_cast<size_t>(width) * height * 3);
  }
}

TEST_F(ImagePipelineTest, SdxlSamplesDependOnTheirSampleIdNotTheirBatch) {
  auto pipeline = LoadPipeline(sdxl_->path());
  ASSERT_NE(pipeline, nullptr);
  const std::vector<std::string> prompts = {"a red cube on a table", "a blue sphere"};
  // Two prompts x two samples, as two batches.
  auto first = pipeline->Generate(Request(prompts, {0, 1}));
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = pipeline->Generate(Request(prompts, {2, 3}));
  ASSERT_TRUE(second.ok()) << second.status();
  for (const GeneratedBatch* batch : {&*first, &*second}) {
    ASSERT_EQ(batch->latents.sizes(), (std::vector<int64_t>{2, 4, 8, 16}));
    EXPECT_EQ(batch->latents.scalar_type(), torch::kFloat);
    EXPECT_TRUE(batch->latents.device().is_cpu());
    EXPECT_TRUE(torch::isfinite(batch->latents).all().item<bool>());
    ExpectImages(*batch, 2, 64, 32);
  }
  // Sample 1 alone is bit-identical to sample 1 in its batch, image included.
  auto alone = pipeline->Generate(Request({prompts[1]}, {1}));
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE(torch::equal(alone->latents[0], first->latents[1]));
  EXPECT_EQ(alone->images[0].pixels, first->images[1].pixels);
  // Other sample ids of the same prompt differ.
  EXPECT_FALSE(torch::equal(first->latents[0], second->latents[0]));
  EXPECT_FALSE(torch::equal(first->latents[1], second->latents[1]));
  // So does another seed.
  GenerationRequest reseeded = Request({prompts[1]}, {1});
  reseeded.seed = 43;
  auto other_seed = pipeline->Generate(reseeded);
  ASSERT_TRUE(other_seed.ok()) << other_seed.status();
  EXPECT_FALSE(torch::equal(other_seed->latents[0], first->latents[1]));
}

TEST_F(ImagePipelineTest, GuidanceChangesTheResult) {
  auto pipeline = LoadPipeline(sdxl_->path());
  ASSERT_NE(pipeline, nullptr);
  EXPECT_TRUE(pipeline->loop().UsesClassifierFreeGuidance(5.0));
  EXPECT_FALSE(pipeline->loop().UsesClassifierFreeGuidance(1.0));
  GenerationRequest guided = Request({"a red cube"}, {0});
  GenerationRequest unguided = guided;
  unguided.guidance_scale = 1.0;
  auto a = pipeline->Generate(guided);
  auto b = pipeline->Generate(unguided);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(torch::isfinite(b->latents).all().item<bool>());
  EXPECT_FALSE(torch::equal(a->latents, b->latents));
  // A non-empty negative prompt is encoded rather than zeros.
  GenerationRequest negative = guided;
  negative.negative_prompt = "blurry";
  auto c = pipeline->Generate(negative);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(torch::equal(a->latents, c->latents));
}

TEST_F(ImagePipelineTest, Sd15Generates) {
  auto pipeline = LoadPipeline(sd15_->path());
  ASSERT_NE(pipeline, nullptr);
  EXPECT_FALSE(pipeline->text().has_pooled());
  auto batch = pipeline->Generate(Request({"a red cube", "a blue sphere"}, {0, 1}));
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->latents.sizes(), (std::vector<int64_t>{2, 4, 8, 16}));
  EXPECT_TRUE(torch::isfinite(batch->latents).all().item<bool>());
  ExpectImages(*batch, 2, 64, 32);
  auto alone = pipeline->Generate(Request({"a blue sphere"}, {1}));
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE(torch::equal(alone->latents[0], batch->latents[1]));
}

// An LCM UNet with the LCM scheduler: no guidance batch, the guidance scale
// embedded as timestep_cond, and stochastic steps whose noise is keyed too.
TEST_F(ImagePipelineTest, LcmGeneratesReproducibly) {
  testing::TempDir dir("image_pipeline_lcm");
  for (const char* name : {"vae", "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2"}) {
    fs::create_directory_symlink(fs::path(sdxl_->path()) / name, fs::path(dir.path()) / name);
  }
  Link("tiny-sdxl-lcm/unet", dir.path(), "unet");
  Link("samplers/lcm", dir.path(), "scheduler");
  auto pipeline = LoadPipeline(dir.path());
  ASSERT_NE(pipeline, nullptr);
  EXPECT_FALSE(pipeline->loop().UsesClassifierFreeGuidance(8.0));
  GenerationRequest request = Request({"a red cube", "a blue sphere"}, {5, 6});
  request.steps = 4;
  request.guidance_scale = 8.0;
  auto batch = pipeline->Generate(request);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(torch::isfinite(batch->latents).all().item<bool>());
  request.prompts = {"a blue sphere"};
  request.sample_ids = {6};
  auto alone = pipeline->Generate(request);
  ASSERT_TRUE(alone.ok()) << alone.status();
  EXPECT_TRUE(torch::equal(alone->latents[0], batch->latents[1]));
  request.guidance_scale = 2.0;  // enters through timestep_cond
  auto other = pipeline->Generate(request);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_FALSE(torch::equal(other->latents[0], alone->latents[0]));
}

TEST_F(ImagePipelineTest, RejectsBadRequestsWithAReason) {
  auto pipeline = LoadPipeline(sdxl_->path());
  ASSERT_NE(pipeline, nullptr);
  auto expect_error = [&](const GenerationRequest& r, const std::string& says) {
    auto result = pipeline->Generate(r);
    ASSERT_FALSE(result.ok()) << says;
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(result.status().message()).find(says), std::string::npos) << result.status();
  };
  expect_error(Request({}, {}), "at least one prompt");
  expect_error(Request({"a", "b"}, {0}), "one sample id per prompt");
  GenerationRequest r = Request({"a"}, {0});
  r.height = 30;
  expect_error(r, "height 30");
  r = Request({"a"}, {0});
  r.width = 0;
  expect_error(r, "width 0");
  r = Request({"a"}, {0});
  r.steps = 0;
  expect_error(r, "steps");
  r = Request({"a"}, {0});
  r.guidance_scale = std::nan("");
  expect_error(r, "guidance_scale");
}

TEST_F(ImagePipelineTest, LoadNamesComponentsThatDoNotFit) {
  // tiny-sd15's UNet (48-wide cross attention) with SDXL's encoders (64).
  testing::TempDir dir("image_pipeline_mismatch");
  for (const char* name : {"vae", "scheduler", "tokenizer", "tokenizer_2", "text_encoder", "text_encoder_2"}) {
    fs::create_directory_symlink(fs::path(sdxl_->path()) / name, fs::path(dir.path()) / name);
  }
  Link("tiny-sd15/unet", dir.path(), "unet");
  auto pipeline = ImagePipeline::Load(dir.path(), torch::kCPU);
  ASSERT_FALSE(pipeline.ok());
  EXPECT_NE(std::string(pipeline.status().message()).find("cross_attention_dim is 48"), std::string::npos)
      << pipeline.status();
  fs::remove(fs::path(dir.path()) / "vae");
  pipeline = ImagePipeline::Load(dir.path(), torch::kCPU);
  ASSERT_FALSE(pipeline.ok());
  EXPECT_NE(std::string(pipeline.status().message()).find("vae/config.json"), std::string::npos) << pipeline.status();
}

TEST(PostprocessTest, RoundsAsDiffusers) {
  // (x / 2 + 0.5) * 255: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128 (round half to even), clamped outside.
  const torch::Tensor decoded = torch::tensor({-1.0f, 1.0f, 0.0f, 2.0f, -3.0f, 0.5f}).reshape({1, 3, 1, 2});
  const std::vector<imaging::RgbImage> images = ToRgbImages(decoded);
  ASSERT_EQ(images.size(), 1u);
  EXPECT_EQ(images[0].width, 2);
  EXPECT_EQ(images[0].height, 1);
  // Pixel (0,0) = channels (-1, 0, -3); pixel (0,1) = (1, 2, 0.5).
  EXPECT_EQ(images[0].pixels, (std::vector<uint8_t>{0, 128, 0, 255, 255, 191}));
}

}  // namespace
}  // namespace align::sampling
