#include "worker/models/unet_2d_condition.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "worker/models/transformer_2d.h"

namespace align::models {
namespace {

StageOptions StageFor(const diffusers::UNetConfig& c, size_t block, int64_t in_channels, int64_t layers,
                      bool cross_attention, double output_scale_factor) {
  const int64_t out = c.block_out_channels[block];
  StageOptions s;
  s.in_channels = in_channels;
  s.out_channels = out;
  s.temb_channels = c.time_embed_dim();
  s.layers = layers;
  s.cross_attention = cross_attention;
  s.transformer = Transformer2DOptions{out,
                                       c.num_attention_heads[block],
                                       c.transformer_layers_per_block[block],
                                       c.cross_attention_dim,
                                       c.norm_num_groups,
                                       c.use_linear_projection,
                                       c.upcast_attention};
  s.norm_groups = c.norm_num_groups;
  s.norm_eps = c.norm_eps;
  s.output_scale_factor = output_scale_factor;
  return s;
}

}  // namespace

UNet2DConditionModelImpl::UNet2DConditionModelImpl(const diffusers::UNetConfig& config,
                                                   const torch::TensorOptions& options)
    : config_(config) {
  const diffusers::UNetConfig& c = config_;
  const size_t n = c.num_blocks();
  const int64_t ch0 = c.block_out_channels[0];
  const int64_t temb = c.time_embed_dim();

  conv_in = register_module(
      "conv_in", Conv2d(c.in_channels, ch0, c.conv_in_kernel, 1, (c.conv_in_kernel - 1) / 2, options));
  time_embedding = register_module("time_embedding", TimestepEmbedding(ch0, temb, options, c.time_cond_proj_dim));
  if (c.text_time_embedding) {
    add_embedding = register_module(
        "add_embedding", TimestepEmbedding(c.projection_class_embeddings_input_dim, temb, options));
  }

  // Channels of every skip connection, in the order the down path produces them.
  std::vector<int64_t> skip_channels = {ch0};
  auto down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  int64_t channels = ch0;
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    StageOptions s = StageFor(c, i, channels, c.layers_per_block[i],
                              c.down_block_types[i] == diffusers::DownBlockType::kCrossAttnDownBlock2D,
                              c.resnet_out_scale_factor);
    down_stages_.emplace_back(s, !last, c.downsample_padding, options);
    down_blocks->push_back(down_stages_.back());
    for (size_t j = 0; j < down_stages_.back()->num_layers(); ++j) {
      block_names_.push_back(absl::StrCat("down.", i, ".", j));
    }
    channels = s.out_channels;
    for (int64_t j = 0; j < s.layers + (last ? 0 : 1); ++j) skip_channels.push_back(channels);
  }

  StageOptions mid = StageFor(c, n - 1, channels, 1, true, c.mid_block_scale_factor);
  mid_stage_ = register_module("mid_block", MidStage(mid, options));
  block_names_.push_back("mid");

  auto up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  for (size_t i = 0; i < n; ++i) {
    const size_t block = n - 1 - i;  // the up path mirrors the down path
    const int64_t layers = c.layers_per_block[block] + 1;
    StageOptions s = StageFor(c, block, channels, layers,
                              c.up_block_types[i] == diffusers::UpBlockType::kCrossAttnUpBlock2D,
                              c.resnet_out_scale_factor);
    std::vector<int64_t> consumed;
    for (int64_t j = 0; j < layers; ++j) {
      consumed.push_back(skip_channels.back());
      skip_channels.pop_back();
    }
    up_stages_.emplace_back(s, channels, consumed, /*add_upsample=*/i + 1 < n, options);
    up_blocks->push_back(up_stages_.back());
    for (size_t j = 0; j < up_stages_.back()->num_layers(); ++j) {
      block_names_.push_back(absl::StrCat("up.", i, ".", j));
    }
    channels = s.out_channels;
  }

  conv_norm_out = register_module("conv_norm_out", GroupNorm(c.norm_num_groups, ch0, c.norm_eps, options));
  conv_out = register_module(
      "conv_out", Conv2d(ch0, c.out_channels, c.conv_out_kernel, 1, (c.conv_out_kernel - 1) / 2, options));
  recomputed_.assign(block_names_.size(), false);
}

absl::Status UNet2DConditionModelImpl::set_recomputed_blocks(const std::set<std::string>& names) {
  std::vector<bool> recomputed(block_names_.size(), false);
  for (const std::string& name : names) {
    auto it = std::find(block_names_.begin(), block_names_.end(), name);
    if (it == block_names_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown recompute block \"", name,
                                                     "\"; this UNet's blocks are ", absl::StrJoin(block_names_, ", ")));
    }
    recomputed[it - block_names_.begin()] = true;
  }
  recomputed_ = std::move(recomputed);
  return absl::OkStatus();
}

std::set<std::string> UNet2DConditionModelImpl::recomputed_blocks() const {
  std::set<std::string> names;
  for (size_t i = 0; i < block_names_.size(); ++i) {
    if (recomputed_[i]) names.insert(block_names_[i]);
  }
  return names;
}

void UNet2DConditionModelImpl::set_gradient_checkpointing(bool enabled) {
  recomputed_.assign(block_names_.size(), enabled);
}

bool UNet2DConditionModelImpl::gradient_checkpointing() const {
  return std::find(recomputed_.begin(), recomputed_.end(), true) != recomputed_.end();
}

int64_t UNet2DConditionModelImpl::num_parameters() const {
  int64_t total = 0;
  for (const auto& p : parameters()) total += p.numel();
  return total;
}

torch::Tensor UNet2DConditionModelImpl::TimeEmbedding(const UNetInputs& in, int64_t batch,
                                                      torch::Dtype dtype) {
  const diffusers::UNetConfig& c = config_;
  torch::Tensor timesteps = in.timestep.dim() == 0 ? in.timestep.expand({batch}) : in.timestep;
  TORCH_CHECK(timesteps.dim() == 1 && timesteps.size(0) == batch, "timestep must be a scalar or [",
              batch, "], got ", timesteps.sizes());
  torch::Tensor t_emb =
      SinusoidalEmbedding(timesteps, c.block_out_channels[0], c.flip_sin_to_cos, c.freq_shift);
  torch::Tensor condition;
  if (c.time_cond_proj_dim > 0) {
    TORCH_CHECK(in.timestep_cond.defined(), "this UNet (time_cond_proj_dim ", c.time_cond_proj_dim,
                ") needs timestep_cond");
    TORCH_CHECK(in.timestep_cond.dim() == 2 && in.timestep_cond.size(0) == batch &&
                    in.timestep_cond.size(1) == c.time_cond_proj_dim,
                "timestep_cond must be [", batch, ", ", c.time_cond_proj_dim, "], got ", in.timestep_cond.sizes());
    condition = in.timestep_cond.to(dtype);
  } else {
    TORCH_CHECK(!in.timestep_cond.defined(), "timestep_cond given, but this UNet has no time_cond_proj_dim");
  }
  torch::Tensor emb = time_embedding(t_emb.to(dtype), condition);
  if (!c.text_time_embedding) return emb;

  TORCH_CHECK(in.text_embeds.defined() && in.time_ids.defined(),
              "this UNet (addition_embed_type text_time) needs text_embeds and time_ids");
  TORCH_CHECK(in.time_ids.dim() == 2 && in.time_ids.size(0) == batch && in.time_ids.size(1) == 6,
              "time_ids must be [", batch, ", 6], got ", in.time_ids.sizes());
  TORCH_CHECK(in.text_embeds.dim() == 2 && in.text_embeds.size(0) == batch &&
                  in.text_embeds.size(1) == c.pooled_text_dim(),
              "text_embeds must be [", batch, ", ", c.pooled_text_dim(), "], got ", in.text_embeds.sizes());
  torch::Tensor time_embeds = SinusoidalEmbedding(in.time_ids.flatten(), c.addition_time_embed_dim,
                                                  c.flip_sin_to_cos, c.freq_shift)
                                  .reshape({batch, -1});
  torch::Tensor add_embeds = torch::cat({in.text_embeds, time_embeds.to(in.text_embeds.scalar_type())}, -1);
  return emb + add_embedding(add_embeds.to(dtype));
}

torch::Tensor UNet2DConditionModelImpl::forward(const UNetInputs& in, RecomputeBlockProbe* probe) {
  const diffusers::UNetConfig& c = config_;
  TORCH_CHECK(in.sample.dim() == 4 && in.sample.size(1) == c.in_channels, "sample must be [B, ",
              c.in_channels, ", H, W], got ", in.sample.sizes());
  const int64_t batch = in.sample.size(0);
  TORCH_CHECK(in.encoder_hidden_states.dim() == 3 && in.encoder_hidden_states.size(0) == batch &&
                  in.encoder_hidden_states.size(2) == c.cross_attention_dim,
              "encoder_hidden_states must be [", batch, ", tokens, ", c.cross_attention_dim, "], got ",
              in.encoder_hidden_states.sizes());

  torch::Tensor x = c.center_input_sample ? in.sample * 2.0 - 1.0 : in.sample;
  if (channels_last_) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor temb = TimeEmbedding(in, batch, x.scalar_type());
  const torch::Tensor& context = in.encoder_hidden_states;

  x = conv_in(x);
  std::vector<torch::Tensor> skips = {x};
  RecomputeBlockWalk blocks(is_training() ? &recomputed_ : nullptr, probe);
  for (DownStage& stage : down_stages_) x = stage(x, temb, context, skips, blocks);
  x = mid_stage_(x, temb, context, blocks);
  for (UpStage& stage : up_stages_) x = stage(x, temb, context, skips, blocks);
  TORCH_CHECK(blocks.visited() == block_names_.size(), "forward ran ", blocks.visited(), " recompute blocks of ",
              block_names_.size());
  x = conv_out(torch::silu(conv_norm_out(x)));
  // The caller gets its own layout back (a copy of a few channels at most).
  return x.contiguous(in.sample.suggest_memory_format());
}

void UNet2DConditionModelImpl::set_channels_last(bool enabled) {
  torch::NoGradGuard no_grad;
  const torch::MemoryFormat format = enabled ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
  for (torch::Tensor& p : parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(format));
  }
  channels_last_ = enabled;
}

void UNet2DConditionModelImpl::set_fused_geglu(bool enabled) {
  // Every GEGLU below, wherever the block structure puts it.
  for (const std::shared_ptr<torch::nn::Module>& module : modules(/*include_self=*/false)) {
    if (auto* geglu = module->as<GEGLUImpl>()) geglu->set_fused(enabled);
  }
  fused_geglu_ = enabled;
}

}  // namespace align::models
