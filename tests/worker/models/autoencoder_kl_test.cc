#include "worker/models/autoencoder_kl.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "worker/models/weights_io.h"
#include "worker/tools/verify_vae.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

namespace fs = std::filesystem;
const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-vae";

std::map<std::string, torch::Tensor> Io() {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  return *io;
}

AutoencoderKL LoadTiny() {
  auto vae = LoadAutoencoderKL(kTiny + "/vae", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(vae.ok()) << vae.status();
  return *vae;
}

fs::path TempDir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("align_vae_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string TinyConfigText() {
  auto text = ReadFileToString(kTiny + "/vae/config.json");
  EXPECT_TRUE(text.ok());
  return *text;
}

TEST(AutoencoderKLTest, EncoderMatchesDiffusersOnTheGoldenFixture) {
  auto io = Io();
  AutoencoderKL vae = LoadTiny();
  torch::NoGradGuard no_grad;
  LatentDistribution dist = vae->Encode(io.at("image"));
  ASSERT_EQ(dist.mean.sizes(), io.at("mean").sizes());
  ASSERT_EQ(dist.logvar.sizes(), io.at("logvar").sizes());
  const double mean_err = tools::MaxRelativeError(dist.mean, io.at("mean"));
  const double logvar_err = tools::MaxRelativeError(dist.logvar, io.at("logvar"));
  EXPECT_LT(mean_err, 1e-4);
  EXPECT_LT(logvar_err, 1e-4);
  RecordProperty("mean_max_rel_err", std::to_string(mean_err));
  RecordProperty("logvar_max_rel_err", std::to_string(logvar_err));
}

TEST(AutoencoderKLTest, DecoderMatchesDiffusersOnTheGoldenFixture) {
  auto io = Io();
  AutoencoderKL vae = LoadTiny();
  torch::NoGradGuard no_grad;
  torch::Tensor decoded = vae->Decode(io.at("latent"));
  ASSERT_EQ(decoded.sizes(), io.at("decoded").sizes());
  const double err = tools::MaxRelativeError(decoded, io.at("decoded"));
  EXPECT_LT(err, 1e-4);
  RecordProperty("decoded_max_rel_err", std::to_string(err));
}

TEST(AutoencoderKLTest, ConfigValuesAndParameterNames) {
  AutoencoderKL vae = LoadTiny();
  EXPECT_DOUBLE_EQ(vae->scaling_factor(), 0.13025);
  EXPECT_FALSE(vae->config().shift_factor.has_value());
  EXPECT_TRUE(vae->config().force_upcast);
  EXPECT_EQ(vae->config().downscale_factor(), 4);
  auto params = vae->named_parameters();
  EXPECT_TRUE(params.contains("encoder.down_blocks.0.downsamplers.0.conv.weight"));
  EXPECT_FALSE(params.contains("encoder.down_blocks.2.downsamplers.0.conv.weight"));
  EXPECT_TRUE(params.contains("decoder.up_blocks.2.resnets.2.conv2.weight"));
  EXPECT_FALSE(params.contains("decoder.up_blocks.2.upsamplers.0.conv.weight"));
  EXPECT_TRUE(params.contains("decoder.mid_block.attentions.0.to_out.0.bias"));
  for (const auto& p : params) EXPECT_EQ(p.key().find("time_emb_proj"), std::string::npos) << p.key();
}

// Odd and non-square sides: each downsample halves, rounding down; the
// decoder doubles. Each sample of a batch does not depend on the others.
TEST(AutoencoderKLTest, OddNonSquareSizesAndBatchIndependence) {
  AutoencoderKL vae = LoadTiny();
  torch::NoGradGuard no_grad;
  torch::manual_seed(3);
  torch::Tensor image = torch::rand({3, 3, 37, 50}) * 2 - 1;
  LatentDistribution dist = vae->Encode(image);
  EXPECT_EQ(dist.mean.sizes(), (std::vector<int64_t>{3, 4, 9, 12}));
  EXPECT_EQ(dist.logvar.sizes(), dist.mean.sizes());
  EXPECT_TRUE(torch::isfinite(dist.mean).all().item<bool>());
  EXPECT_LE(dist.logvar.max().item<double>(), 20.0);
  EXPECT_GE(dist.logvar.min().item<double>(), -30.0);
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_LT(tools::MaxRelativeError(vae->Encode(image.narrow(0, i, 1)).mean, dist.mean.narrow(0, i, 1)), 1e-5) << i;
  }

  torch::Tensor latent = torch::randn({2, 4, 7, 5});
  torch::Tensor decoded = vae->Decode(latent);
  EXPECT_EQ(decoded.sizes(), (std::vector<int64_t>{2, 3, 28, 20}));
  EXPECT_TRUE(torch::isfinite(decoded).all().item<bool>());
  EXPECT_LT(tools::MaxRelativeError(vae->Decode(latent.narrow(0, 1, 1)), decoded.narrow(0, 1, 1)), 1e-5);

  EXPECT_THROW(vae->Decode(torch::randn({1, 3, 8, 8})), c10::Error);
  EXPECT_THROW(vae->Encode(torch::randn({1, 4, 8, 8})), c10::Error);
}

TEST(AutoencoderKLTest, SaveAndLoadRoundTripsInDiffusersLayout) {
  auto io = Io();
  AutoencoderKL vae = LoadTiny();
  for (const bool sharded : {false, true}) {
    fs::path dir = TempDir(sharded ? "sharded" : "single") / "vae";
    // The fixture's weights are F16 values, so an F16 copy is exact.
    ASSERT_TRUE(SaveAutoencoderKL(vae, dir.string(), torch::kHalf, sharded ? 64 << 10 : 10ull << 30).ok());
    EXPECT_TRUE(fs::exists(dir / "config.json"));
    EXPECT_EQ(fs::exists(dir / "diffusion_pytorch_model.safetensors.index.json"), sharded);
    auto reloaded = LoadAutoencoderKL(dir.string(), torch::TensorOptions().dtype(torch::kFloat));
    ASSERT_TRUE(reloaded.ok()) << reloaded.status();
    auto original = vae->named_parameters();
    EXPECT_EQ((*reloaded)->named_parameters().size(), original.size());
    for (const auto& p : (*reloaded)->named_parameters()) {
      EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key();
    }
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal((*reloaded)->Decode(io.at("latent")), vae->Decode(io.at("latent"))));
    fs::remove_all(dir.parent_path());
  }
}

// Writes the tiny checkpoint with `edit` applied to its tensor map (and
// `config` as config.json), then loads it.
absl::Status LoadEdited(const std::function<void(std::map<std::string, torch::Tensor>&)>& edit,
                        const std::string& config = TinyConfigText()) {
  auto weights = ReadTensors(kTiny + "/vae/diffusion_pytorch_model.safetensors");
  EXPECT_TRUE(weights.ok());
  edit(*weights);
  fs::path dir = TempDir("edited") / "vae";
  fs::create_directories(dir);
  EXPECT_TRUE(WriteFileAtomically((dir / "config.json").string(), config).ok());
  EXPECT_TRUE(WriteTensors((dir / "diffusion_pytorch_model.safetensors").string(), *weights).ok());
  absl::Status status = LoadAutoencoderKL(dir.string(), torch::TensorOptions()).status();
  fs::remove_all(dir.parent_path());
  return status;
}

TEST(AutoencoderKLTest, LoadingNamesMissingExtraAndMisshapenKeys) {
  absl::Status missing = LoadEdited([](auto& w) { w.erase("encoder.mid_block.attentions.0.to_q.bias"); });
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.message()).find("encoder.mid_block.attentions.0.to_q.bias"), std::string::npos)
      << missing.message();

  absl::Status extra = LoadEdited([](auto& w) {
    w["decoder.up_blocks.0.resnets.0.time_emb_proj.weight"] = torch::zeros({64, 8});
  });
  ASSERT_FALSE(extra.ok());
  EXPECT_NE(std::string(extra.message()).find("not used by the model: decoder.up_blocks.0.resnets.0.time_emb_proj.weight"),
            std::string::npos) << extra.message();

  absl::Status shape = LoadEdited([](auto& w) { w["quant_conv.weight"] = torch::zeros({8, 8, 3, 3}); });
  ASSERT_FALSE(shape.ok());
  EXPECT_NE(std::string(shape.message()).find("quant_conv.weight"), std::string::npos) << shape.message();

  // use_quant_conv false: the file's quant_conv.* are then unused keys.
  nlohmann::json config = nlohmann::json::parse(TinyConfigText());
  config["use_quant_conv"] = false;
  absl::Status unused = LoadEdited([](auto&) {}, config.dump());
  ASSERT_FALSE(unused.ok());
  EXPECT_NE(std::string(unused.message()).find("quant_conv.weight"), std::string::npos) << unused.message();
  // ...and loads once they are gone.
  EXPECT_TRUE(LoadEdited([](auto& w) { w.erase("quant_conv.weight"); w.erase("quant_conv.bias"); },
                         config.dump()).ok());
}

absl::StatusOr<diffusers::VaeConfig> ParseEdited(const std::function<void(nlohmann::json&)>& edit) {
  nlohmann::json config = nlohmann::json::parse(TinyConfigText());
  edit(config);
  return diffusers::ParseVaeConfig(config.dump());
}

void ExpectRejected(const std::function<void(nlohmann::json&)>& edit, const std::string& needle) {
  auto config = ParseEdited(edit);
  ASSERT_FALSE(config.ok()) << needle;
  EXPECT_NE(std::string(config.status().message()).find(needle), std::string::npos) << config.status();
}

TEST(VaeConfigTest, ParsesTheFixtureAndRealSdxlVae) {
  auto tiny = diffusers::ParseVaeConfig(TinyConfigText());
  ASSERT_TRUE(tiny.ok()) << tiny.status();
  EXPECT_EQ(tiny->block_out_channels, (std::vector<int64_t>{32, 64, 64}));
  EXPECT_EQ(tiny->layers_per_block, 2);
  EXPECT_TRUE(tiny->latents_mean.empty());

  // stabilityai/sdxl-vae's config.json (keys of an older diffusers version).
  auto sdxl = diffusers::ParseVaeConfig(R"({
    "_class_name": "AutoencoderKL", "_diffusers_version": "0.18.0.dev0",
    "_name_or_path": "./vae", "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"],
    "force_upcast": true, "in_channels": 3, "latent_channels": 4, "layers_per_block": 2,
    "norm_num_groups": 32, "out_channels": 3, "sample_size": 1024, "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"]})");
  ASSERT_TRUE(sdxl.ok()) << sdxl.status();
  EXPECT_EQ(sdxl->downscale_factor(), 8);
  // Built on the meta device: SDXL's VAE has 83,653,863 parameters.
  AutoencoderKL vae(*sdxl, torch::TensorOptions().dtype(torch::kFloat).device(torch::kMeta));
  int64_t count = 0;
  for (const auto& p : vae->parameters()) count += p.numel();
  EXPECT_EQ(count, 83653863);

  auto stats = ParseEdited([](auto& c) {
    c["latents_mean"] = {0.1, 0.2, 0.3, 0.4};
    c["latents_std"] = {1, 2, 3, 4};
    c["shift_factor"] = 0.5;
    c["sample_size"] = {64, 48};
  });
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->latents_std, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(stats->shift_factor, 0.5);
}

TEST(VaeConfigTest, RejectsUnsupportedOptionsByName) {
  ExpectRejected([](auto& c) { c["act_fn"] = "gelu"; }, "act_fn");
  ExpectRejected([](auto& c) { c["down_block_types"][1] = "AttnDownEncoderBlock2D"; }, "AttnDownEncoderBlock2D");
  ExpectRejected([](auto& c) { c["up_block_types"][0] = "UpBlock2D"; }, "UpBlock2D");
  ExpectRejected([](auto& c) { c["norm_type"] = "spatial"; }, "unsupported option(s) norm_type");
  ExpectRejected([](auto& c) { c["block_out_channels"] = {32, 64}; }, "one entry per block_out_channels");
  ExpectRejected([](auto& c) { c["block_out_channels"] = {32, 48, 64}; }, "block_out_channels[1] = 48");
  ExpectRejected([](auto& c) { c["latents_mean"] = {0.1, 0.2}; }, "latents_mean");
  ExpectRejected([](auto& c) { c["latents_std"] = "x"; }, "latents_std");
  ExpectRejected([](auto& c) { c["layers_per_block"] = 1.5; }, "layers_per_block");
  ExpectRejected([](auto& c) { c["_class_name"] = "AutoencoderTiny"; }, "AutoencoderKL");
}

// bf16 weights and activations stay within verify-model's bf16 tolerance (5e-2).
TEST(VerifyVaeTest, Bf16StaysWithinTheLooseTolerance) {
  std::map<std::string, double> errors;
  std::vector<std::string> components;
  auto report = [&](const std::string& key, double err, bool) { errors[key] = err; };
  ASSERT_TRUE(tools::VerifyVae(kTiny, Io(), torch::kCPU, torch::kBFloat16, report, components).ok());
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& [key, err] : errors) {
    EXPECT_LT(err, 5e-2) << key;
    RecordProperty(key + "_bf16_max_rel_err", std::to_string(err));
  }
}

TEST(VerifyVaeTest, ReportsEachOutputAndNamesTheComponent) {
  auto io = Io();
  std::map<std::string, double> errors;
  std::vector<std::string> components;
  auto report = [&](const std::string& key, double err, bool is_gradient) {
    EXPECT_FALSE(is_gradient);
    errors[key] = err;
  };
  ASSERT_TRUE(tools::VerifyVae(kTiny, io, torch::kCPU, torch::kFloat, report, components).ok());
  EXPECT_EQ(components, std::vector<std::string>{"vae"});
  ASSERT_EQ(errors.size(), 3u);
  for (const auto& [key, err] : errors) EXPECT_LT(err, 1e-4) << key;

  // Nothing to do without VAE inputs; an error without a vae/ folder.
  components.clear();
  errors.clear();
  std::map<std::string, torch::Tensor> unet_only{{"sample", torch::zeros({1})}};
  EXPECT_TRUE(tools::VerifyVae(kTiny, unet_only, torch::kCPU, torch::kFloat, report, components).ok());
  EXPECT_TRUE(components.empty());
  EXPECT_FALSE(tools::VerifyVae("/nonexistent", io, torch::kCPU, torch::kFloat, report, components).ok());
  auto no_decoded = io;
  no_decoded.erase("decoded");
  absl::Status missing = tools::VerifyVae(kTiny, no_decoded, torch::kCPU, torch::kFloat, report, components);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(std::string(missing.message()).find("decoded"), std::string::npos);
}

}  // namespace
}  // namespace align::models
