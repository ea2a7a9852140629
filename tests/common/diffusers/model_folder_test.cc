// The diffusers model-folder layout (paths, weights names, the missing-file
// check) and the rule for whether a dataset fits a UNet.

#include "common/diffusers/model_folder.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/status/status.h"
#include "common/dataset/manifest.h"
#include "common/diffusers/dataset_fit.h"
#include "common/diffusers/unet_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::diffusers {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const std::string kTinySdxl = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

TEST(ModelFolderTest, ComponentPaths) {
  const ModelFolder model("/models/sdxl");
  EXPECT_EQ(model.Dir(Component::kUNet), "/models/sdxl/unet");
  EXPECT_EQ(model.Dir(Component::kVae), "/models/sdxl/vae");
  EXPECT_EQ(model.Dir(Component::kTextEncoder), "/models/sdxl/text_encoder");
  EXPECT_EQ(model.Dir(Component::kTextEncoder2), "/models/sdxl/text_encoder_2");
  EXPECT_EQ(model.Dir(Component::kTokenizer), "/models/sdxl/tokenizer");
  EXPECT_EQ(model.Dir(Component::kTokenizer2), "/models/sdxl/tokenizer_2");
  EXPECT_EQ(model.Dir(Component::kScheduler), "/models/sdxl/scheduler");
  EXPECT_EQ(model.Dir(Component::kImageEncoder), "/models/sdxl/image_encoder");
  EXPECT_EQ(model.UNetConfigPath(), "/models/sdxl/unet/config.json");
  EXPECT_EQ(model.SchedulerConfigPath(), "/models/sdxl/scheduler/scheduler_config.json");
  EXPECT_EQ(ConfigPath("/m/vae"), "/m/vae/config.json");
  EXPECT_EQ(VocabPath("/m/tokenizer"), "/m/tokenizer/vocab.json");
  EXPECT_EQ(MergesPath("/m/tokenizer"), "/m/tokenizer/merges.txt");
  EXPECT_EQ(SchedulerConfigPath("/m/scheduler"), "/m/scheduler/scheduler_config.json");
}

TEST(ModelFolderTest, WeightsNamesFollowDiffusersVariants) {
  EXPECT_EQ(WeightsFileName(kDiffusersWeightsBase), "diffusion_pytorch_model.safetensors");
  EXPECT_EQ(WeightsFileName(kDiffusersWeightsBase, "fp16"), "diffusion_pytorch_model.fp16.safetensors");
  EXPECT_EQ(WeightsIndexFileName(kDiffusersWeightsBase), "diffusion_pytorch_model.safetensors.index.json");
  EXPECT_EQ(WeightsIndexFileName(kDiffusersWeightsBase, "fp16"),
            "diffusion_pytorch_model.safetensors.index.fp16.json");
  EXPECT_EQ(WeightsFileName(kTransformersWeightsBase), "model.safetensors");
  EXPECT_EQ(WeightsIndexFileName(kTransformersWeightsBase), "model.safetensors.index.json");
  EXPECT_TRUE(fs::is_regular_file(fs::path(kTinySdxl) / "unet" / WeightsFileName(kDiffusersWeightsBase)));
}

TEST(ModelFolderTest, CheckFilesNamesTheFirstMissingFile) {
  EXPECT_TRUE(ModelFolder(kTinySdxl).CheckFiles({Component::kUNet, Component::kScheduler}).ok());

  absl::Status no_root = ModelFolder("/nonexistent/model").CheckFiles({Component::kUNet});
  EXPECT_EQ(no_root.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_root.message()), HasSubstr("/nonexistent/model is not a directory"));

  absl::Status no_vae = ModelFolder(kTinySdxl).CheckFiles({Component::kUNet, Component::kVae});
  EXPECT_EQ(no_vae.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(no_vae.message()), HasSubstr("has no vae/config.json"));

  std::string pattern = (fs::temp_directory_path() / "model_folder_test_XXXXXX").string();
  const std::string dir = ::mkdtemp(pattern.data());
  fs::create_directories(dir + "/tokenizer_2");
  std::ofstream(dir + "/tokenizer_2/vocab.json") << "{}";
  absl::Status no_merges = ModelFolder(dir).CheckFiles({Component::kTokenizer2});
  EXPECT_THAT(std::string(no_merges.message()), HasSubstr("has no tokenizer_2/merges.txt"));
  std::ofstream(dir + "/tokenizer_2/merges.txt") << "";
  EXPECT_TRUE(ModelFolder(dir).CheckFiles({Component::kTokenizer2}).ok());
  fs::remove_all(dir);
}

TEST(DatasetFitTest, TheShapeForAUNetFitsIt) {
  absl::StatusOr<UNetConfig> unet = LoadUNetConfig(ModelFolder(kTinySdxl).UNetConfigPath());
  ASSERT_TRUE(unet.ok()) << unet.status();
  const data::PairShape shape = PairShapeForUNet(*unet, 16, 12, 8);
  EXPECT_EQ(shape, (data::PairShape{4, 16, 12, 8, 64, 80 - 6 * 8}));
  EXPECT_TRUE(CheckPairShapeFitsUNet(shape, *unet).ok());
}

TEST(DatasetFitTest, EachMismatchIsRefusedWithBothSides) {
  absl::StatusOr<UNetConfig> unet = LoadUNetConfig(ModelFolder(kTinySdxl).UNetConfigPath());
  ASSERT_TRUE(unet.ok()) << unet.status();
  const data::PairShape fits = PairShapeForUNet(*unet, 8, 8, 8);
  data::PairShape channels = fits, context = fits, pooled = fits;
  channels.latent_channels = 16;
  context.context_dim = 2048;
  pooled.pooled_dim = 0;
  for (const data::PairShape& shape : {channels, context, pooled}) {
    absl::Status status = CheckPairShapeFitsUNet(shape, *unet);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr("in_channels 4, cross_attention_dim 64, pooled 32"));
  }
  EXPECT_THAT(std::string(CheckPairShapeFitsUNet(context, *unet).message()), HasSubstr("context_dim 2048"));
  // Sizes and token counts are free.
  data::PairShape sized = fits;
  sized.latent_height = 128;
  sized.latent_width = 96;
  sized.tokens = 77;
  EXPECT_TRUE(CheckPairShapeFitsUNet(sized, *unet).ok());
}

TEST(DatasetFitTest, AUNetWithoutTextTimeTakesAnyPooledWidth) {
  absl::StatusOr<UNetConfig> unet = LoadUNetConfig(ModelFolder(kTinySdxl).UNetConfigPath());
  ASSERT_TRUE(unet.ok()) << unet.status();
  unet->text_time_embedding = false;
  data::PairShape shape = PairShapeForUNet(*unet, 8, 8, 8);
  EXPECT_EQ(shape.pooled_dim, 0);
  shape.pooled_dim = 1280;
  EXPECT_TRUE(CheckPairShapeFitsUNet(shape, *unet).ok());
}

}  // namespace
}  // namespace align::diffusers
