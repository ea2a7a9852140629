// PairEncoder against the golden fixtures: prompt_embeds is the two encoders'
// penultimate states side by side, pooled is text_encoder_2's projection,
// latents are the VAE mean (or a reproducible sample) times scaling_factor.

#include "worker/prepare/pair_encoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/file_util.h"
#include "nlohmann/json.hpp"
#include "worker/models/autoencoder_kl.h"
#include "worker/models/weights_io.h"

namespace align::prepare {
namespace {

namespace fs = std::filesystem;
const std::string kGolden = ALIGN_GOLDEN_DIR;

double RelErr(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / b.abs().max().item<double>();
}

class PairEncoderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("pair_encoder_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    fs::create_directory_symlink(kGolden + "/tiny-vae/vae", dir_ / "vae");
    fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder", dir_ / "text_encoder");
    fs::create_directory_symlink(kGolden + "/tiny-clip/text_encoder_2", dir_ / "text_encoder_2");
    fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", dir_ / "tokenizer");
    fs::create_directory_symlink(kGolden + "/tokenizer/tokenizer", dir_ / "tokenizer_2");
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static fs::path dir_;
};
fs::path PairEncoderTest::dir_;

TEST_F(PairEncoderTest, ShapeComesFromTheEncoders) {
  auto encoder = PairEncoder::Load(dir_.string(), torch::kCPU);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  absl::StatusOr<data::PairShape> shape = (*encoder)->ShapeFor(64);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(*shape, (data::PairShape{4, 16, 16, 77, 64, 24}));
  EXPECT_FALSE((*encoder)->ShapeFor(66).ok());  // not a multiple of the tiny VAE's 4
}

TEST_F(PairEncoderTest, MatchesTheGoldenEncodersAndTheVae) {
  auto encoder = PairEncoder::Load(dir_.string(), torch::kCPU);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  const nlohmann::json expected = nlohmann::json::parse(*ReadFileToString(kGolden + "/tokenizer/expected.json"));
  std::vector<std::string> captions;
  for (int i = 0; i < 4; ++i) captions.push_back(expected["prompts"][i].get<std::string>());
  torch::manual_seed(0);
  const int64_t r = 32;
  torch::Tensor w = torch::rand({4, 3, r, r}) * 2 - 1, l = torch::rand({4, 3, r, r}) * 2 - 1;
  std::vector<float> pw(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  std::vector<float> pl(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
  const EncodedBatch out = (*encoder)->Encode(captions, pw, pl, r, LatentMode::kMean, {0, 1, 2, 3}, 7);

  auto io = models::ReadTensors(kGolden + "/tiny-clip/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  ASSERT_EQ(out.prompt_embeds.sizes(), (std::vector<int64_t>{4, 77, 64}));
  // The golden ids are tokenizer 1's (pad <|endoftext|>): encoder 1's half matches everywhere.
  EXPECT_LT(RelErr(out.prompt_embeds.slice(2, 0, 32), io->at("text_encoder.penultimate")), 1e-4);
  // Encoder 2 reads tokenizer 2's ids (pad "!"); with causal attention, positions up to
  // the first <|endoftext|> and the pooled output there do not see the padding. Prompt 1
  // ends in "!!", which tokenizer 2 splits around its special "!" (as the reference
  // does), so its ids differ before the end of text: rows 0, 2 and 3 are comparable.
  const torch::Tensor ids = io->at("input_ids");
  for (int64_t b : {0, 2, 3}) {
    const int64_t eos = (ids[b] == 707).nonzero()[0].item<int64_t>();
    EXPECT_LT(RelErr(out.prompt_embeds[b].slice(0, 0, eos + 1).slice(1, 32, 64),
                     io->at("text_encoder_2.penultimate")[b].slice(0, 0, eos + 1)),
              1e-4)
        << "row " << b;
    EXPECT_LT(RelErr(out.pooled[b], io->at("text_encoder_2.pooled")[b]), 1e-4) << "row " << b;
  }

  auto vae = models::LoadAutoencoderKL(kGolden + "/tiny-vae/vae", torch::kFloat32);
  ASSERT_TRUE(vae.ok()) << vae.status();
  torch::NoGradGuard no_grad;
  EXPECT_LT(RelErr(out.latents_w, (*vae)->Encode(w).mean * 0.13025), 1e-5);
  EXPECT_LT(RelErr(out.latents_l, (*vae)->Encode(l).mean * 0.13025), 1e-5);
}

TEST_F(PairEncoderTest, SampledLatentsDependOnThePairNotTheBatch) {
  auto encoder = PairEncoder::Load(dir_.string(), torch::kCPU);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  torch::manual_seed(1);
  const int64_t r = 16, n = 3 * r * r;
  torch::Tensor x = torch::rand({2, 3, r, r}) * 2 - 1;
  std::vector<float> both(x.data_ptr<float>(), x.data_ptr<float>() + 2 * n);
  std::vector<float> second(both.begin() + n, both.end());
  const EncodedBatch pair =
      (*encoder)->Encode({"a", "b"}, both, both, r, LatentMode::kSample, {10, 11}, 3);
  const EncodedBatch alone = (*encoder)->Encode({"b"}, second, second, r, LatentMode::kSample, {11}, 3);
  const EncodedBatch mean = (*encoder)->Encode({"b"}, second, second, r, LatentMode::kMean, {11}, 3);
  EXPECT_LT(RelErr(alone.latents_w[0], pair.latents_w[1]), 1e-5);
  EXPECT_GT(RelErr(alone.latents_w[0], mean.latents_w[0]), 1e-3);  // a sample, not the mean
  EXPECT_GT(RelErr(alone.latents_w[0], alone.latents_l[0]), 1e-3);  // w and l draw their own noise
}

}  // namespace
}  // namespace align::prepare
