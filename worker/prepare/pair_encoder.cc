#include "worker/prepare/pair_encoder.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace align::prepare {
namespace {

constexpr uint64_t kLatentNoiseStream = 0x6c6e6f697365;  // "lnoise"

// Standard normals from (seed, pair id, role) by Box-Muller over the counter
// RNG: reproducible whatever the batch composition.
void FillNormal(uint64_t seed, int64_t pair_id, uint64_t role, float* out, int64_t n) {
  CounterRng rng(DeriveSeed(seed, {kLatentNoiseStream, static_cast<uint64_t>(pair_id), role}));
  constexpr double kTwoPi = 6.283185307179586;
  for (int64_t i = 0; i < n; i += 2) {
    const double u1 = (static_cast<double>(rng.Next() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
    const double u2 = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53;
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = static_cast<float>(r * std::cos(kTwoPi * u2));
    if (i + 1 < n) out[i + 1] = static_cast<float>(r * std::sin(kTwoPi * u2));
  }
}

}  // namespace

PairEncoder::PairEncoder(torch::Device device, models::AutoencoderKL vae, models::TextConditioner text)
    : device_(device), vae_(std::move(vae)), text_(std::move(text)) {}

absl::StatusOr<std::unique_ptr<PairEncoder>> PairEncoder::Load(const std::string& model_dir, torch::Device device) {
  // fp32 throughout: the reference keeps SDXL's VAE in fp32 (its fp16 overflows),
  // and prepared embeddings are computed once, so precision is cheap here.
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  using diffusers::Component;
  const diffusers::ModelFolder model(model_dir);
  ASSIGN_OR_RETURN(models::AutoencoderKL vae, models::LoadAutoencoderKL(model.Dir(Component::kVae), options));
  if (vae->config().shift_factor.value_or(0.0) != 0.0) {
    return absl::InvalidArgumentError(
        absl::StrCat(model.Dir(Component::kVae), " has a shift_factor: not an SDXL VAE (unsupported)"));
  }
  // SDXL folders (text_encoder_2/ present) need its tokenizer too; SD 1.x / 2.x
  // folders have one encoder and their datasets no pooled embedding.
  if (std::filesystem::exists(model.Dir(Component::kTextEncoder2))) {
    RETURN_IF_ERROR(model.CheckFiles({Component::kTokenizer2, Component::kTextEncoder2}));
  }
  ASSIGN_OR_RETURN(models::TextConditioner text, models::TextConditioner::Load(model_dir, options));
  vae->eval();
  return std::unique_ptr<PairEncoder>(new PairEncoder(device, std::move(vae), std::move(text)));
}

absl::StatusOr<data::PairShape> PairEncoder::ShapeFor(int64_t resolution) const {
  const int64_t factor = vae_->config().downscale_factor();
  if (resolution % factor != 0) {
    return absl::InvalidArgumentError(absl::StrCat("prepare.resolution: ", resolution,
                                                   " is not a multiple of the VAE's downscale factor ", factor));
  }
  data::PairShape shape;
  shape.latent_channels = vae_->config().latent_channels;
  shape.latent_height = shape.latent_width = resolution / factor;
  shape.tokens = kTokens;
  shape.context_dim = text_.context_dim();
  shape.pooled_dim = text_.pooled_dim();
  return shape;
}

models::TextConditioning PairEncoder::EncodeEmptyPrompt() {
  models::TextConditioning text = text_.Encode({""});
  text.prompt_embeds = text.prompt_embeds.to(torch::kCPU).contiguous();
  if (text.pooled.defined()) text.pooled = text.pooled.to(torch::kCPU).contiguous();
  return text;
}

bool PairEncoder::Truncates(const std::string& caption) const { return text_.Truncates(caption); }

EncodedBatch PairEncoder::Encode(const std::vector<std::string>& captions, const std::vector<float>& pixels_w,
                                 const std::vector<float>& pixels_l, int64_t resolution, LatentMode latent,
                                 const std::vector<int64_t>& pair_ids, uint64_t seed, uint64_t role_base,
                                 bool encode_text) {
  c10::InferenceMode inference;  // no autograd bookkeeping at all
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t b = static_cast<int64_t>(captions.size());
  const auto cpu = torch::TensorOptions().dtype(torch::kFloat32);
  const std::vector<int64_t> image_shape = {b, 3, resolution, resolution};
  // w then l in one forward: [2B, 3, R, R].
  torch::Tensor pixels =
      torch::cat({torch::from_blob(const_cast<float*>(pixels_w.data()), image_shape, cpu),
                  torch::from_blob(const_cast<float*>(pixels_l.data()), image_shape, cpu)})
          .to(device_);
  // The VAE's mid-block attention is dense over all latent positions: (R/8)^4
  // scores per image, 1 GiB at 1024 px for SDXL. Encode few enough images at a
  // time to keep that near 1 GiB; every image is independent (GroupNorm is per
  // sample), so the result does not depend on the grouping.
  const int64_t positions = (resolution / vae_->config().downscale_factor()) *
                            (resolution / vae_->config().downscale_factor());
  const int64_t per_forward = std::max<int64_t>(1, (int64_t{1} << 30) / (positions * positions * 8));
  std::vector<torch::Tensor> means, stddevs, logvars;
  for (int64_t i = 0; i < 2 * b; i += per_forward) {
    models::LatentDistribution part = vae_->Encode(pixels.slice(0, i, std::min(2 * b, i + per_forward)));
    means.push_back(part.mean);
    if (latent == LatentMode::kSample) stddevs.push_back(part.stddev());
    if (latent == LatentMode::kSamplePerStep) logvars.push_back(part.logvar);
  }
  torch::Tensor z = torch::cat(means);
  if (latent == LatentMode::kSample) {
    torch::Tensor noise = torch::empty(z.sizes(), cpu);
    const int64_t per_image = z[0].numel();
    for (int64_t i = 0; i < 2 * b; ++i) {
      FillNormal(seed, pair_ids[i % b], /*role: w=0, l=1*/ role_base + static_cast<uint64_t>(i / b),
                 noise.data_ptr<float>() + i * per_image, per_image);
    }
    z = z + torch::cat(stddevs) * noise.to(device_);
  }
  z = (z * vae_->scaling_factor()).to(torch::kCPU).contiguous();
  EncodedBatch batch;
  if (latent == LatentMode::kSamplePerStep) {
    // Var(s x) = s^2 Var(x): the log-variance of the scaled latent.
    const double shift = 2.0 * std::log(vae_->scaling_factor());
    torch::Tensor logvar = (torch::cat(logvars) + shift).to(torch::kCPU).contiguous();
    batch.logvar_w = logvar.slice(0, 0, b).contiguous();
    batch.logvar_l = logvar.slice(0, b, 2 * b).contiguous();
  }
  const auto t1 = std::chrono::steady_clock::now();

  batch.latents_w = z.slice(0, 0, b).contiguous();
  batch.latents_l = z.slice(0, b, 2 * b).contiguous();
  if (encode_text) {
    const models::TextConditioning text = text_.Encode(captions);
    batch.prompt_embeds = text.prompt_embeds.to(torch::kCPU).contiguous();
    if (text.pooled.defined()) batch.pooled = text.pooled.to(torch::kCPU).contiguous();
  }
  batch.vae_seconds = std::chrono::duration<double>(t1 - t0).count();
  batch.text_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return batch;
}

}  // namespace align::prepare
