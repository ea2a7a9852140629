#pragma once
// SDXL's denoiser: diffusers' UNet2DConditionModel for the block family
// DownBlock2D / CrossAttnDownBlock2D / UNetMidBlock2DCrossAttn /
// CrossAttnUpBlock2D / UpBlock2D with the text_time additional embedding.
// Submodules are registered under diffusers' names, so named_parameters() are
// exactly the weight files' keys.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "worker/models/embeddings.h"
#include "worker/models/unet_blocks.h"
#include "common/diffusers/unet_config.h"

namespace align::models {

struct UNetInputs {
  torch::Tensor sample;                 // [B, in_channels, H, W] noisy latents
  torch::Tensor timestep;               // [B] or scalar, integer or float
  torch::Tensor encoder_hidden_states;  // [B, tokens, cross_attention_dim]
  torch::Tensor text_embeds;            // [B, pooled_text_dim] (text_time only)
  torch::Tensor time_ids;               // [B, 6] (text_time only)
  torch::Tensor timestep_cond;          // [B, time_cond_proj_dim] (LCM UNets only)
};

class UNet2DConditionModelImpl : public torch::nn::Module {
 public:
  UNet2DConditionModelImpl(const diffusers::UNetConfig& config, const torch::TensorOptions& options);

  // Returns the model output (predicted noise or velocity), shaped like sample.
  // `probe` (may be null) sees each recompute block begin and end.
  torch::Tensor forward(const UNetInputs& inputs, RecomputeBlockProbe* probe = nullptr);

  const diffusers::UNetConfig& config() const { return config_; }

  // Activation recomputation (gradient checkpointing), chosen per recompute
  // block (unet_blocks.h); it applies in training mode only. The blocks'
  // names, in the order forward runs them: "down.<stage>.<layer>", "mid",
  // "up.<stage>.<layer>" (stages and layers numbered from 0 as in diffusers'
  // down_blocks / up_blocks).
  const std::vector<std::string>& recompute_block_names() const { return block_names_; }
  // Recomputes exactly the named blocks. An unknown name is InvalidArgument
  // naming it and the valid names, and changes nothing.
  absl::Status set_recomputed_blocks(const std::set<std::string>& names);
  std::set<std::string> recomputed_blocks() const;
  // Every block (true) or none (false).
  void set_gradient_checkpointing(bool enabled);
  // Whether any block recomputes.
  bool gradient_checkpointing() const;
  // Channels-last (NHWC) activations and convolution weights: cuDNN's and
  // oneDNN's preferred layout, so convolutions need no layout conversions; the
  // transformers' token views become free. Converts the 4-D parameters now
  // (call it after loading weights and attaching adapters, before an optimizer
  // takes them); the output keeps the sample's layout.
  void set_channels_last(bool enabled);
  bool channels_last() const { return channels_last_; }
  // Every transformer feed-forward's GEGLU as one fused op (fused_geglu.h):
  // the same math, outputs and gradients equal to fp32 rounding, less
  // activation memory. Parameters and their names are unchanged.
  void set_fused_geglu(bool enabled);
  bool fused_geglu() const { return fused_geglu_; }
  int64_t num_parameters() const;

 private:
  torch::Tensor TimeEmbedding(const UNetInputs& inputs, int64_t batch, torch::Dtype dtype);

  diffusers::UNetConfig config_;
  std::vector<std::string> block_names_;
  std::vector<bool> recomputed_;  // by block, as block_names_
  bool channels_last_ = false;
  bool fused_geglu_ = false;
  Conv2d conv_in{nullptr}, conv_out{nullptr};
  TimestepEmbedding time_embedding{nullptr}, add_embedding{nullptr};
  std::vector<DownStage> down_stages_;
  MidStage mid_stage_{nullptr};
  std::vector<UpStage> up_stages_;
  GroupNorm conv_norm_out{nullptr};
};
TORCH_MODULE(UNet2DConditionModel);

}  // namespace align::models
