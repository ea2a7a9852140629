#pragma once
// The denoising loop of diffusers' text-to-image pipelines
// (StableDiffusionXLPipeline, StableDiffusionPipeline, and their LCM use),
// from given conditioning and initial noise to the final latents:
//
//   latents = noise * init_noise_sigma
//   for each step i at timestep t_i:
//     x   = scale_model_input(cfg ? [latents, latents] : latents, i)
//     eps = unet(x, t_i, [negative; prompt] embeds, added conditioning, timestep_cond)
//     eps = cfg ? eps_uncond + g * (eps_cond - eps_uncond) : eps
//     latents = sampler.step(eps, i, latents, noise keyed by (seed, i, sample id))
//
// Classifier-free guidance (cfg) runs when g > 1 and the UNet is not an LCM
// UNet; an LCM UNet (time_cond_proj_dim set) instead takes timestep_cond =
// GuidanceScaleEmbedding(g - 1), as diffusers does.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/models/unet_2d_condition.h"
#include "worker/sampling/sampler_config.h"

namespace align::sampling {

struct DenoiseInputs {
  torch::Tensor initial_noise;           // [B, C, h, w] standard normals (not yet times init_noise_sigma)
  torch::Tensor prompt_embeds;           // [B, T, cross_attention_dim]
  torch::Tensor pooled;                  // [B, pooled_text_dim]; text_time UNets only
  torch::Tensor negative_prompt_embeds;  // like prompt_embeds; needed when guidance runs
  torch::Tensor negative_pooled;         // like pooled; needed when guidance runs on a text_time UNet
  torch::Tensor time_ids;                // [B, 6]; text_time UNets only; both halves use it
  int64_t steps = 0;
  double guidance_scale = 1.0;
  // Key the noise of stochastic steps (Euler ancestral, LCM): row b draws
  // DrawSamplerNoise(seed, i, sample_ids[b]), whatever else is in the batch.
  uint64_t seed = 0;
  std::vector<int64_t> sample_ids;  // one per row
  bool keep_every_step = false;     // fill DenoiseResult::steps
};

struct DenoiseResult {
  std::vector<double> timesteps;     // the sampler's schedule
  std::vector<torch::Tensor> steps;  // latents after step i (fp32, CPU), when asked for
  torch::Tensor latents;             // final latents, fp32, on the loop's device
};

class DenoisingLoop {
 public:
  // Reads `model_dir`/unet and `model_dir`/scheduler/scheduler_config.json;
  // `sampler` overrides the scheduler's class (see ParseSamplerConfig). The
  // UNet's parameters are `dtype` on `device`; the sampler's arithmetic is fp32.
  // `unet_dir` replaces `model_dir`/unet when given (a training checkpoint's).
  static absl::StatusOr<std::unique_ptr<DenoisingLoop>> Load(const std::string& model_dir, torch::Device device,
                                                             torch::Dtype dtype = torch::kFloat,
                                                             const std::string& sampler = "",
                                                             const std::string& unet_dir = "");
  DenoisingLoop(models::UNet2DConditionModel unet, SamplerConfig sampler_config, torch::Device device);

  // Whether `guidance_scale` makes the loop run the unconditional half too.
  bool UsesClassifierFreeGuidance(double guidance_scale) const;
  // InvalidArgument naming what is missing or misshapen; the schedule's errors.
  absl::StatusOr<DenoiseResult> Run(const DenoiseInputs& inputs);

  const diffusers::UNetConfig& unet_config() const { return unet_->config(); }
  const SamplerConfig& sampler_config() const { return sampler_config_; }
  torch::Device device() const { return device_; }

 private:
  absl::Status Check(const DenoiseInputs& in) const;

  models::UNet2DConditionModel unet_;
  SamplerConfig sampler_config_;
  torch::Device device_;
};

}  // namespace align::sampling
