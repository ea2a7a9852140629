#pragma once
// The models of a prepare job: the VAE and the text conditioning
// (models::TextConditioner: SDXL's two CLIP text encoders, or the one encoder
// of SD 1.x / 2.x), loaded from a diffusers folder, turning conditioned pixels
// and captions into what a prepared dataset stores. As the reference training
// scripts: the VAE runs in fp32; latents = mean (or a sample) of
// encode(x).latent_dist times scaling_factor; prompt_embeds (and SDXL's pooled)
// as the family's pipeline computes them.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/job_spec.h"
#include "worker/models/autoencoder_kl.h"
#include "worker/models/text_conditioner.h"

namespace align::prepare {

// One encoder batch's outputs, fp32 on the CPU, contiguous.
struct EncodedBatch {
  torch::Tensor latents_w, latents_l;  // [B, C, h, w]
  // kSamplePerStep only: the posterior's log-variance in the stored latent
  // units, logvar + 2 ln(scaling_factor) (the latents are then its mean).
  torch::Tensor logvar_w, logvar_l;
  torch::Tensor prompt_embeds;         // [B, 77, context_dim]
  torch::Tensor pooled;                // [B, pooled_dim]; undefined without a second encoder
  double vae_seconds = 0, text_seconds = 0;
};

class PairEncoder {
 public:
  static constexpr int kTokens = models::TextConditioner::kTokens;

  // Reads vae/, text_encoder/, tokenizer/ (and text_encoder_2/, tokenizer_2/
  // when text_encoder_2/ exists) under `model_dir`.
  static absl::StatusOr<std::unique_ptr<PairEncoder>> Load(const std::string& model_dir, torch::Device device);

  // The dataset shape at `resolution`; InvalidArgument unless the VAE's
  // downscale factor divides it.
  absl::StatusOr<data::PairShape> ShapeFor(int64_t resolution) const;

  // `pixels_w`, `pixels_l`: B images [3, R, R] each, concatenated. With
  // kSample the Gaussian noise is drawn per (seed, pair id, w/l + role_base),
  // so a pair's latents do not depend on its batch or rank (role_base 2 for
  // the flipped images). `encode_text` false: no prompt_embeds / pooled.
  EncodedBatch Encode(const std::vector<std::string>& captions, const std::vector<float>& pixels_w,
                      const std::vector<float>& pixels_l, int64_t resolution, LatentMode latent,
                      const std::vector<int64_t>& pair_ids, uint64_t seed, uint64_t role_base = 0,
                      bool encode_text = true);

  // The empty prompt's conditioning ("" through the text encoder(s), as the
  // reference's prompt dropout computes it), fp32 on the CPU: prompt_embeds
  // [1, 77, context_dim], pooled [1, pooled_dim] or undefined.
  models::TextConditioning EncodeEmptyPrompt();

  // Whether `caption` is longer than the 75 tokens that fit between
  // <|startoftext|> and <|endoftext|> (it is then truncated, as the reference does).
  bool Truncates(const std::string& caption) const;

 private:
  PairEncoder(torch::Device device, models::AutoencoderKL vae, models::TextConditioner text);

  torch::Device device_;
  models::AutoencoderKL vae_;
  models::TextConditioner text_;
};

}  // namespace align::prepare
