#include "common/imaging/clip_preprocess.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/imaging/verify_preprocess.h"
#include "common/safetensors/reader.h"
#include "nlohmann/json.hpp"

namespace align::imaging {
namespace {

const std::string kDir = std::string(ALIGN_GOLDEN_DIR) + "/clip-preprocess";

ClipImageProcessorConfig FixtureConfig() {
  auto config = LoadClipImageProcessorConfig(kDir + "/preprocessor_config.json");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
  return worst;
}

TEST(ClipPreprocessTest, MatchesPillowReferenceOnEveryFixtureImage) {
  const ClipImageProcessorConfig config = FixtureConfig();
  auto file = safetensors::File::Open(kDir + "/io.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  for (int i = 0; i < 3; ++i) {
    auto image_view = (*file)->Get("image_" + std::to_string(i));
    auto expected_view = (*file)->Get("pixel_values_pil_" + std::to_string(i));
    ASSERT_TRUE(image_view.ok() && expected_view.ok());
    const auto& shape = image_view->info->shape;
    RgbImage image(static_cast<int>(shape[1]), static_cast<int>(shape[0]));
    std::memcpy(image.pixels.data(), image_view->data, image.pixels.size());
    std::vector<float> expected(static_cast<size_t>(expected_view->info->numel()));
    std::memcpy(expected.data(), expected_view->data, expected.size() * sizeof(float));

    auto pixels = PreprocessClipImage(image, config);
    ASSERT_TRUE(pixels.ok()) << pixels.status();
    EXPECT_EQ(pixels->height, 32);
    EXPECT_EQ(pixels->width, 32);
    // Pillow-exact resize: only float rounding remains, far below one 8-bit level (0.015).
    EXPECT_LT(MaxAbsDiff(pixels->chw, expected), 1e-5) << "image " << i;
  }
}

TEST(ClipPreprocessTest, VerifyPreprocessCommandPassesOnTheFixture) {
  std::ostringstream out, err;
  EXPECT_EQ(RunVerifyPreprocess(kDir, out, err), 0) << err.str() << out.str();
  const nlohmann::json line = nlohmann::json::parse(out.str());
  EXPECT_TRUE(line.at("ok").get<bool>());
  EXPECT_EQ(line.at("max_abs_err").size(), 3u);
}

TEST(ClipPreprocessTest, CenterCropRoundingFollowsTheChosenLibrary) {
  // A 5x8 (w x h) image cropped to 4x4 leaves 4 rows: 2 on top either way;
  // a 4x7 image leaves 3: transformers puts 1 on top, torchvision round(1.5) = 2.
  RgbImage image(4, 7);
  for (int y = 0; y < 7; ++y) std::fill(image.Row(y), image.Row(y) + 12, static_cast<uint8_t>(y));
  ClipImageProcessorConfig config;
  config.do_resize = false;
  config.crop_height = config.crop_width = 4;
  config.do_rescale = config.do_normalize = false;
  auto floor = PreprocessClipImage(image, config);
  ASSERT_TRUE(floor.ok());
  EXPECT_EQ(floor->chw[0], 1.0f);
  config.crop_rounding = CenterCropRounding::kRoundHalfEven;
  auto half_even = PreprocessClipImage(image, config);
  ASSERT_TRUE(half_even.ok());
  EXPECT_EQ(half_even->chw[0], 2.0f);
}

TEST(ClipPreprocessTest, ConfigFormsAndRejections) {
  // transformers 4's CLIPFeatureExtractor form (laion/CLIP-ViT-H-14's processor).
  auto legacy = ParseClipImageProcessorConfig(
      R"({"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
          "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
          "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224})");
  ASSERT_TRUE(legacy.ok()) << legacy.status();
  EXPECT_EQ(legacy->shortest_edge, 224);
  EXPECT_EQ(legacy->crop_height, 224);
  EXPECT_EQ(legacy->crop_width, 224);

  auto unknown = ParseClipImageProcessorConfig(R"({"do_random_flip": true})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("do_random_flip"), std::string::npos) << unknown.status();
  auto lanczos = ParseClipImageProcessorConfig(R"({"resample": 1})");
  ASSERT_FALSE(lanczos.ok());
  EXPECT_NE(lanczos.status().message().find("resample"), std::string::npos) << lanczos.status();
  auto other = ParseClipImageProcessorConfig(R"({"image_processor_type": "SiglipImageProcessor"})");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("image_processor_type"), std::string::npos) << other.status();
}

TEST(ClipPreprocessTest, CropLargerThanImageIsAnError) {
  ClipImageProcessorConfig config;
  config.do_resize = false;
  auto pixels = PreprocessClipImage(RgbImage(10, 10), config);
  ASSERT_FALSE(pixels.ok());
  EXPECT_NE(pixels.status().message().find("larger"), std::string::npos);
}

}  // namespace
}  // namespace align::imaging
