#include "worker/sampling/denoising_loop.h"

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/embeddings.h"
#include "worker/models/unet_io.h"
#include "worker/sampling/make_sampler.h"
#include "worker/sampling/sampler_noise.h"

namespace align::sampling {
namespace {

std::string Shape(const torch::Tensor& t) {
  return t.defined() ? absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]") : "missing";
}

absl::Status ExpectShape(const char* name, const torch::Tensor& t, const std::vector<int64_t>& shape) {
  if (t.defined() && t.sizes() == torch::IntArrayRef(shape)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be [", absl::StrJoin(shape, ","), "], got ", Shape(t)));
}

}  // namespace

absl::StatusOr<std::unique_ptr<DenoisingLoop>> DenoisingLoop::Load(const std::string& model_dir, torch::Device device,
                                                                   torch::Dtype dtype, const std::string& sampler,
                                                                   const std::string& unet_dir) {
  const diffusers::ModelFolder model(model_dir);
  RETURN_IF_ERROR(model.CheckFiles({diffusers::Component::kUNet, diffusers::Component::kScheduler}));
  ASSIGN_OR_RETURN(SamplerConfig config, LoadSamplerConfig(model.SchedulerConfigPath(), sampler));
  ASSIGN_OR_RETURN(models::UNet2DConditionModel unet,
                   models::LoadUNet(unet_dir.empty() ? model.Dir(diffusers::Component::kUNet) : unet_dir,
                                    torch::TensorOptions().dtype(dtype).device(device)));
  unet->eval();
  return std::make_unique<DenoisingLoop>(std::move(unet), std::move(config), device);
}

DenoisingLoop::DenoisingLoop(models::UNet2DConditionModel unet, SamplerConfig sampler_config, torch::Device device)
    : unet_(std::move(unet)), sampler_config_(std::move(sampler_config)), device_(device) {}

bool DenoisingLoop::UsesClassifierFreeGuidance(double guidance_scale) const {
  return guidance_scale > 1.0 && unet_config().time_cond_proj_dim == 0;
}

absl::Status DenoisingLoop::Check(const DenoiseInputs& in) const {
  const diffusers::UNetConfig& c = unet_config();
  if (in.steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps must be at least 1, got ", in.steps));
  if (!in.initial_noise.defined() || in.initial_noise.dim() != 4 || in.initial_noise.size(1) != c.in_channels) {
    return absl::InvalidArgumentError(absl::StrCat("initial noise must be [B, ", c.in_channels, ", h, w], got ",
                                                   Shape(in.initial_noise)));
  }
  const int64_t b = in.initial_noise.size(0);
  if (static_cast<int64_t>(in.sample_ids.size()) != b) {
    return absl::InvalidArgumentError(
        absl::StrCat("need one sample id per row: ", in.sample_ids.size(), " ids for ", b, " rows"));
  }
  if (!in.prompt_embeds.defined() || in.prompt_embeds.dim() != 3) {
    return absl::InvalidArgumentError(absl::StrCat("prompt_embeds must be [B, tokens, ", c.cross_attention_dim,
                                                   "], got ", Shape(in.prompt_embeds)));
  }
  const std::vector<int64_t> context = {b, in.prompt_embeds.size(1), c.cross_attention_dim};
  RETURN_IF_ERROR(ExpectShape("prompt_embeds", in.prompt_embeds, context));
  const bool cfg = UsesClassifierFreeGuidance(in.guidance_scale);
  if (cfg) RETURN_IF_ERROR(ExpectShape("negative_prompt_embeds", in.negative_prompt_embeds, context));
  if (c.text_time_embedding) {
    RETURN_IF_ERROR(ExpectShape("pooled prompt embeds", in.pooled, {b, c.pooled_text_dim()}));
    if (cfg) RETURN_IF_ERROR(ExpectShape("negative pooled prompt embeds", in.negative_pooled, {b, c.pooled_text_dim()}));
    RETURN_IF_ERROR(ExpectShape("time_ids", in.time_ids, {b, 6}));
  }
  return absl::OkStatus();
}

absl::StatusOr<DenoiseResult> DenoisingLoop::Run(const DenoiseInputs& in) {
  RETURN_IF_ERROR(Check(in));
  c10::InferenceMode inference;
  const diffusers::UNetConfig& c = unet_config();
  const torch::Dtype dtype = unet_->parameters().front().scalar_type();
  const auto on_device = [&](const torch::Tensor& t) { return t.to(device_, dtype); };
  const int64_t b = in.initial_noise.size(0);
  const bool cfg = UsesClassifierFreeGuidance(in.guidance_scale);

  std::unique_ptr<Sampler> sampler = MakeSampler(sampler_config_);
  RETURN_IF_ERROR(sampler->SetTimesteps(in.steps));

  // The unconditional half first, as diffusers concatenates them.
  models::UNetInputs unet_in;
  unet_in.encoder_hidden_states =
      on_device(cfg ? torch::cat({in.negative_prompt_embeds, in.prompt_embeds}) : in.prompt_embeds);
  if (c.text_time_embedding) {
    unet_in.text_embeds = on_device(cfg ? torch::cat({in.negative_pooled, in.pooled}) : in.pooled);
    unet_in.time_ids = on_device(cfg ? torch::cat({in.time_ids, in.time_ids}) : in.time_ids);
  }
  if (c.time_cond_proj_dim > 0) {
    const torch::Tensor w = torch::full({b}, in.guidance_scale - 1.0, torch::kFloat);
    unet_in.timestep_cond = on_device(models::GuidanceScaleEmbedding(w, c.time_cond_proj_dim));
  }

  DenoiseResult result;
  result.timesteps = sampler->timesteps();
  torch::Tensor latents = in.initial_noise.to(device_, torch::kFloat) * sampler->init_noise_sigma();
  const std::vector<int64_t> one_sample = {1, latents.size(1), latents.size(2), latents.size(3)};
  for (int64_t i = 0; i < static_cast<int64_t>(result.timesteps.size()); ++i) {
    const torch::Tensor model_input = cfg ? torch::cat({latents, latents}) : latents;
    unet_in.sample = on_device(sampler->ScaleModelInput(model_input, i));
    unet_in.timestep = torch::tensor(result.timesteps[i], torch::kDouble);
    torch::Tensor noise_pred = unet_->forward(unet_in).to(torch::kFloat);
    if (cfg) {
      const torch::Tensor uncond = noise_pred.slice(0, 0, b), cond = noise_pred.slice(0, b, 2 * b);
      noise_pred = uncond + in.guidance_scale * (cond - uncond);
    }
    torch::Tensor noise;
    if (sampler->StepNeedsNoise(i)) {
      std::vector<torch::Tensor> rows;
      for (int64_t id : in.sample_ids) rows.push_back(DrawSamplerNoise(in.seed, i, id, one_sample));
      noise = torch::cat(rows).to(device_);
    }
    ASSIGN_OR_RETURN(SamplerStepOutput step, sampler->Step(noise_pred, i, latents, noise.defined() ? &noise : nullptr));
    latents = step.prev_sample;
    if (in.keep_every_step) result.steps.push_back(latents.to(torch::kCPU));
  }
  result.latents = latents;
  return result;
}

}  // namespace align::sampling
