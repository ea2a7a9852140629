#pragma once
// Text to images from a diffusers model folder, as StableDiffusionXLPipeline
// (unet/ with text_time conditioning, two text encoders) or
// StableDiffusionPipeline (one text encoder, no added conditioning) generate
// them: text conditioning (models::TextConditioner), the denoising loop
// (DenoisingLoop: guidance, LCM guidance embedding, the scheduler), then the
// VAE decode and diffusers' postprocess to 8-bit RGB.
//
// Reproducibility: sample k's initial noise and every stochastic step's noise
// are keyed by (seed, sample_ids[k]) (sampler_noise.h), and every sample runs
// through the models on its own (batch 1, or 2 with guidance): matrix kernels
// choose their blocking by batch size, so batching samples together would
// change their low bits with their batch-mates. Sample k of a job is therefore
// the same whatever batch, rank or attempt generates it (on one device type).

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "common/imaging/rgb_image.h"
#include "worker/models/autoencoder_kl.h"
#include "worker/models/text_conditioner.h"
#include "worker/sampling/denoising_loop.h"

namespace align {
struct SamplingSpec;
}  // namespace align

namespace align::sampling {

struct GenerationRequest {
  std::vector<std::string> prompts;
  std::string negative_prompt;  // SDXL: empty gives zeros (force_zeros_for_empty_prompt)
  int64_t height = 0, width = 0;  // pixels; multiples of the VAE's downscale factor
  int64_t steps = 0;
  double guidance_scale = 5.0;
  uint64_t seed = 0;
  // One per prompt: keys the initial noise and every stochastic step's noise,
  // so sample k of a job is the same whatever batch/rank/attempt draws it.
  std::vector<int64_t> sample_ids;
};

// A request with a spec's sampling settings (negative prompt, size, steps,
// guidance) and noise seed; the caller adds the prompts and sample ids.
GenerationRequest RequestFor(const SamplingSpec& sampling, uint64_t seed);

struct GeneratedBatch {
  // Final latents, [B, C, h, w], fp32 on the CPU, before the VAE decode and
  // unscaled, as the pipeline holds them.
  torch::Tensor latents;
  // Decoded, as diffusers' postprocess: round((x / 2 + 0.5).clamp(0, 1) * 255).
  std::vector<imaging::RgbImage> images;
};

struct ImagePipelineOptions {
  torch::Dtype dtype = torch::kFloat;  // UNet and text encoders; the VAE and sampler stay fp32
  std::string sampler;                 // overrides scheduler/'s class (ParseSamplerConfig); empty: the folder's
  // Another UNet folder of the same architecture (a training checkpoint's
  // unet/); empty: the model's own unet/. The rest comes from the model.
  std::string unet_dir;
  // A UNet already in memory, used as it is (shared, not copied): a trainer's
  // policy, sampled between training steps. Its dtype and mode are the
  // caller's; unet_dir is then ignored and unet/ is not read.
  models::UNet2DConditionModel unet{nullptr};
};

class ImagePipeline {
 public:
  // Reads unet/, vae/, scheduler/, tokenizer(s)/ and text_encoder(s)/ under
  // `model_dir` and checks that they fit together (text widths against the
  // UNet's, pooled output for a text_time UNet, latent channels).
  static absl::StatusOr<std::unique_ptr<ImagePipeline>> Load(const std::string& model_dir, torch::Device device,
                                                             const ImagePipelineOptions& options = {});

  // InvalidArgument for an empty prompt list, a sample id count that differs,
  // sizes that are not positive multiples of vae_scale_factor(), steps < 1,
  // or a guidance scale that is not finite or negative.
  absl::StatusOr<GeneratedBatch> Generate(const GenerationRequest& request);

  // One sample's initial noise: standard normals [C, h, w] keyed (seed, sample_id).
  torch::Tensor InitialNoise(uint64_t seed, int64_t sample_id, int64_t height, int64_t width) const;
  // SDXL's micro-conditioning for one sample: (orig h, orig w, crop top,
  // crop left, target h, target w) = (h, w, 0, 0, h, w), [1, 6].
  static torch::Tensor TimeIds(int64_t height, int64_t width);
  // Latents as the loop leaves them -> images, through the VAE in fp32.
  std::vector<imaging::RgbImage> Decode(const torch::Tensor& latents);

  int64_t vae_scale_factor() const { return vae_->config().downscale_factor(); }
  DenoisingLoop& loop() { return *loop_; }
  models::TextConditioner& text() { return text_; }

 private:
  ImagePipeline(std::unique_ptr<DenoisingLoop> loop, models::TextConditioner text, models::AutoencoderKL vae,
                torch::Device device);
  absl::Status Check(const GenerationRequest& request) const;

  std::unique_ptr<DenoisingLoop> loop_;
  models::TextConditioner text_;
  models::AutoencoderKL vae_;
  torch::Device device_;
};

// diffusers' postprocess of decoded images [B, 3, H, W] in [-1, 1]:
// round((x / 2 + 0.5).clamp(0, 1) * 255) as 8-bit RGB.
std::vector<imaging::RgbImage> ToRgbImages(const torch::Tensor& decoded);

}  // namespace align::sampling
