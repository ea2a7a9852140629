#include "worker/sampling/image_pipeline.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/job_spec.h"
#include "common/status_macros.h"
#include "worker/sampling/sampler_noise.h"

namespace align::sampling {

ImagePipeline::ImagePipeline(std::unique_ptr<DenoisingLoop> loop, models::TextConditioner text,
                             models::AutoencoderKL vae, torch::Device device)
    : loop_(std::move(loop)), text_(std::move(text)), vae_(std::move(vae)), device_(device) {}

absl::StatusOr<std::unique_ptr<ImagePipeline>> ImagePipeline::Load(const std::string& model_dir, torch::Device device,
                                                                   const ImagePipelineOptions& options) {
  using diffusers::Component;
  const diffusers::ModelFolder model(model_dir);
  std::unique_ptr<DenoisingLoop> loop;
  if (options.unet) {
    RETURN_IF_ERROR(model.CheckFiles({Component::kVae, Component::kScheduler, Component::kTokenizer,
                                      Component::kTextEncoder}));
    ASSIGN_OR_RETURN(SamplerConfig sampler, LoadSamplerConfig(model.SchedulerConfigPath(), options.sampler));
    loop = std::make_unique<DenoisingLoop>(options.unet, std::move(sampler), device);
  } else {
    RETURN_IF_ERROR(model.CheckFiles({Component::kUNet, Component::kVae, Component::kScheduler,
                                      Component::kTokenizer, Component::kTextEncoder}));
    ASSIGN_OR_RETURN(loop, DenoisingLoop::Load(model_dir, device, options.dtype, options.sampler, options.unet_dir));
  }
  ASSIGN_OR_RETURN(models::TextConditioner text,
                   models::TextConditioner::Load(model_dir, torch::TensorOptions().dtype(options.dtype).device(device)));
  // fp32 always: SDXL's VAE overflows in fp16 (force_upcast), and one decode per image is cheap.
  ASSIGN_OR_RETURN(models::AutoencoderKL vae,
                   models::LoadAutoencoderKL(model.Dir(Component::kVae),
                                             torch::TensorOptions().dtype(torch::kFloat).device(device)));
  vae->eval();

  const diffusers::UNetConfig& unet = loop->unet_config();
  if (text.context_dim() != unet.cross_attention_dim) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, ": the text encoders give ", text.context_dim(),
                                                   "-wide prompt embeds, the UNet's cross_attention_dim is ",
                                                   unet.cross_attention_dim));
  }
  if (unet.text_time_embedding && text.pooled_dim() != unet.pooled_text_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        model_dir, ": the UNet (addition_embed_type text_time) takes ", unet.pooled_text_dim(),
        "-wide pooled text embeds, the text encoders give ",
        text.has_pooled() ? absl::StrCat(text.pooled_dim(), "-wide ones") : std::string("none (no text_encoder_2/)")));
  }
  if (vae->config().latent_channels != unet.in_channels || unet.out_channels != unet.in_channels) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, ": the VAE has ", vae->config().latent_channels,
                                                   " latent channels, the UNet takes ", unet.in_channels,
                                                   " and gives ", unet.out_channels));
  }
  if (vae->config().latents_mean.size() != vae->config().latents_std.size()) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, "/vae: latents_mean and latents_std must both be set"));
  }
  return std::unique_ptr<ImagePipeline>(new ImagePipeline(std::move(loop), std::move(text), std::move(vae), device));
}

GenerationRequest RequestFor(const SamplingSpec& sampling, uint64_t seed) {
  GenerationRequest request;
  request.negative_prompt = sampling.negative_prompt;
  request.height = sampling.height;
  request.width = sampling.width;
  request.steps = sampling.inference_steps;
  request.guidance_scale = sampling.guidance_scale;
  request.seed = seed;
  return request;
}

absl::Status ImagePipeline::Check(const GenerationRequest& r) const {
  if (r.prompts.empty()) return absl::InvalidArgumentError("a generation request needs at least one prompt");
  if (r.sample_ids.size() != r.prompts.size()) {
    return absl::InvalidArgumentError(absl::StrCat("a generation request needs one sample id per prompt: ",
                                                   r.sample_ids.size(), " ids for ", r.prompts.size(), " prompts"));
  }
  const int64_t factor = vae_scale_factor();
  for (const auto& [name, value] : {std::pair<const char*, int64_t>{"height", r.height}, {"width", r.width}}) {
    if (value <= 0 || value % factor != 0) {
      return absl::InvalidArgumentError(absl::StrCat(name, " ", value,
                                                     " must be a positive multiple of the VAE's downscale factor ",
                                                     factor));
    }
  }
  if (r.steps < 1) return absl::InvalidArgumentError(absl::StrCat("steps must be at least 1, got ", r.steps));
  if (!std::isfinite(r.guidance_scale) || r.guidance_scale < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("guidance_scale must be finite and non-negative, got ", r.guidance_scale));
  }
  return absl::OkStatus();
}

torch::Tensor ImagePipeline::InitialNoise(uint64_t seed, int64_t sample_id, int64_t height, int64_t width) const {
  const int64_t factor = vae_scale_factor();
  return DrawInitialNoise(seed, sample_id, {loop_->unet_config().in_channels, height / factor, width / factor});
}

torch::Tensor ImagePipeline::TimeIds(int64_t height, int64_t width) {
  const double h = static_cast<double>(height), w = static_cast<double>(width);
  return torch::tensor({h, w, 0.0, 0.0, h, w}, torch::kFloat).reshape({1, 6});
}

absl::StatusOr<GeneratedBatch> ImagePipeline::Generate(const GenerationRequest& request) {
  RETURN_IF_ERROR(Check(request));
  const bool cfg = loop_->UsesClassifierFreeGuidance(request.guidance_scale);
  std::optional<models::TextConditioning> negative;
  if (cfg) negative = text_.EncodeNegative(request.negative_prompt, 1);

  GeneratedBatch batch;
  std::vector<torch::Tensor> latents;
  for (size_t k = 0; k < request.prompts.size(); ++k) {
    const models::TextConditioning text = text_.Encode({request.prompts[k]});
    DenoiseInputs in;
    in.initial_noise = InitialNoise(request.seed, request.sample_ids[k], request.height, request.width).unsqueeze(0);
    in.prompt_embeds = text.prompt_embeds;
    in.pooled = text.pooled;
    if (cfg) {
      in.negative_prompt_embeds = negative->prompt_embeds;
      in.negative_pooled = negative->pooled;
    }
    if (loop_->unet_config().text_time_embedding) in.time_ids = TimeIds(request.height, request.width);
    in.steps = request.steps;
    in.guidance_scale = request.guidance_scale;
    in.seed = request.seed;
    in.sample_ids = {request.sample_ids[k]};
    ASSIGN_OR_RETURN(DenoiseResult result, loop_->Run(in));
    std::vector<imaging::RgbImage> image = Decode(result.latents);
    batch.images.push_back(std::move(image.front()));
    latents.push_back(result.latents.to(torch::kCPU));
  }
  batch.latents = torch::cat(latents).contiguous();
  return batch;
}

std::vector<imaging::RgbImage> ImagePipeline::Decode(const torch::Tensor& latents) {
  c10::InferenceMode inference;
  const diffusers::VaeConfig& config = vae_->config();
  torch::Tensor z = latents.to(device_, torch::kFloat);
  if (!config.latents_mean.empty()) {
    // StableDiffusionXLPipeline: latents * std / scaling_factor + mean, per channel.
    const auto shape = std::vector<int64_t>{1, static_cast<int64_t>(config.latents_mean.size()), 1, 1};
    const torch::Tensor mean = torch::tensor(config.latents_mean, torch::kDouble).to(torch::kFloat).reshape(shape);
    const torch::Tensor std = torch::tensor(config.latents_std, torch::kDouble).to(torch::kFloat).reshape(shape);
    z = z * std.to(device_) / config.scaling_factor + mean.to(device_);
  } else {
    z = z / config.scaling_factor;
    if (config.shift_factor) z = z + *config.shift_factor;
  }
  std::vector<imaging::RgbImage> images;
  // One image at a time: the mid-block attention is dense over all latent positions.
  for (int64_t i = 0; i < z.size(0); ++i) {
    std::vector<imaging::RgbImage> one = ToRgbImages(vae_->Decode(z.slice(0, i, i + 1)));
    images.push_back(std::move(one.front()));
  }
  return images;
}

std::vector<imaging::RgbImage> ToRgbImages(const torch::Tensor& decoded) {
  TORCH_CHECK(decoded.dim() == 4 && decoded.size(1) == 3, "decoded images must be [B, 3, H, W], got ",
              decoded.sizes());
  const torch::Tensor bytes = (decoded.to(torch::kFloat) / 2 + 0.5)
                                  .clamp(0, 1)
                                  .mul(255)
                                  .round()
                                  .to(torch::kUInt8)
                                  .permute({0, 2, 3, 1})
                                  .to(torch::kCPU)
                                  .contiguous();
  std::vector<imaging::RgbImage> images;
  for (int64_t i = 0; i < bytes.size(0); ++i) {
    imaging::RgbImage image(static_cast<int>(bytes.size(2)), static_cast<int>(bytes.size(1)));
    std::memcpy(image.pixels.data(), bytes[i].data_ptr<uint8_t>(), image.pixels.size());
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace align::sampling
