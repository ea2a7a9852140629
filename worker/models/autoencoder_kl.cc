#include "worker/models/autoencoder_kl.h"

#include <torch/torch.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "worker/models/scaled_dot_product.h"
#include "worker/models/weights_io.h"

namespace align::models {
namespace {

ResnetBlock2D MakeResnet(int64_t in_channels, int64_t out_channels, int64_t groups,
                         const torch::TensorOptions& options) {
  return ResnetBlock2D(in_channels, out_channels, /*temb_channels=*/0, groups, diffusers::kVaeNormEps,
                       /*output_scale_factor=*/1.0, options);
}

}  // namespace

VaeAttentionImpl::VaeAttentionImpl(int64_t channels, int64_t groups,
                                   const torch::TensorOptions& options) {
  group_norm = register_module("group_norm", GroupNorm(groups, channels, diffusers::kVaeNormEps, options));
  to_q = register_module("to_q", Linear(channels, channels, true, options));
  to_k = register_module("to_k", Linear(channels, channels, true, options));
  to_v = register_module("to_v", Linear(channels, channels, true, options));
  auto to_out = register_module("to_out", torch::nn::ModuleList());
  out_proj = Linear(channels, channels, true, options);
  to_out->push_back(out_proj);
}

torch::Tensor VaeAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // [B, C, H, W] -> [B, 1 head, H*W, C]
  torch::Tensor tokens = group_norm(x).view({b, c, h * w}).transpose(1, 2);
  torch::Tensor q = to_q(tokens).unsqueeze(1);
  torch::Tensor k = to_k(tokens).unsqueeze(1);
  torch::Tensor v = to_v(tokens).unsqueeze(1);
  // upcast_softmax=True in diffusers' VAE attention.
  torch::Tensor attended = ScaledDotProductAttention(q, k, v, /*upcast=*/true).squeeze(1);
  torch::Tensor out = out_proj(attended).transpose(1, 2).reshape({b, c, h, w});
  return out + x;
}

VaeMidBlockImpl::VaeMidBlockImpl(int64_t channels, int64_t groups, bool add_attention,
                                 const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  resnet_in = MakeResnet(channels, channels, groups, options);
  resnet_out = MakeResnet(channels, channels, groups, options);
  resnets->push_back(resnet_in);
  resnets->push_back(resnet_out);
  if (add_attention) {
    auto attentions = register_module("attentions", torch::nn::ModuleList());
    attention = VaeAttention(channels, groups, options);
    attentions->push_back(attention);
  }
}

torch::Tensor VaeMidBlockImpl::forward(torch::Tensor x) {
  x = resnet_in(x, torch::Tensor());
  if (attention) x = attention(x);
  return resnet_out(x, torch::Tensor());
}

DownEncoderBlock2DImpl::DownEncoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                               int64_t layers, int64_t groups, bool add_downsample,
                                               const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t j = 0; j < layers; ++j) {
    resnets_.push_back(MakeResnet(j == 0 ? in_channels : out_channels, out_channels, groups, options));
    resnets->push_back(resnets_.back());
  }
  if (add_downsample) {
    auto downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsample_ = Downsample2D(out_channels, /*padding=*/0, options);
    downsamplers->push_back(downsample_);
  }
}

torch::Tensor DownEncoderBlock2DImpl::forward(torch::Tensor x) {
  for (auto& resnet : resnets_) x = resnet(x, torch::Tensor());
  if (!downsample_.is_empty()) x = downsample_(x);
  return x;
}

UpDecoderBlock2DImpl::UpDecoderBlock2DImpl(int64_t in_channels, int64_t out_channels,
                                           int64_t layers, int64_t groups, bool add_upsample,
                                           const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  for (int64_t j = 0; j < layers; ++j) {
    resnets_.push_back(MakeResnet(j == 0 ? in_channels : out_channels, out_channels, groups, options));
    resnets->push_back(resnets_.back());
  }
  if (add_upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsample_ = Upsample2D(out_channels, options);
    upsamplers->push_back(upsample_);
  }
}

torch::Tensor UpDecoderBlock2DImpl::forward(torch::Tensor x) {
  for (auto& resnet : resnets_) x = resnet(x, torch::Tensor());
  if (!upsample_.is_empty()) {
    const std::vector<int64_t> size = {2 * x.size(2), 2 * x.size(3)};
    x = upsample_->forward(x, size);
  }
  return x;
}

VaeEncoderImpl::VaeEncoderImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options) {
  const auto& ch = config.block_out_channels;
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module("conv_in", Conv2d(config.in_channels, ch.front(), 3, 1, 1, options));
  auto down_blocks = register_module("down_blocks", torch::nn::ModuleList());
  int64_t channels = ch.front();
  for (size_t i = 0; i < ch.size(); ++i) {
    const bool is_final = i + 1 == ch.size();
    down_blocks_.emplace_back(channels, ch[i], config.layers_per_block, groups, !is_final, options);
    down_blocks->push_back(down_blocks_.back());
    channels = ch[i];
  }
  mid_block = register_module("mid_block",
                              VaeMidBlock(ch.back(), groups, config.mid_block_add_attention, options));
  conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, ch.back(), diffusers::kVaeNormEps, options));
  conv_out = register_module("conv_out", Conv2d(ch.back(), 2 * config.latent_channels, 3, 1, 1, options));
}

torch::Tensor VaeEncoderImpl::forward(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 4 && image.size(1) == conv_in->weight.size(1),
              "VAE encoder: expected an image [B, ", conv_in->weight.size(1), ", H, W], got ", image.sizes());
  torch::Tensor x = conv_in(image);
  for (auto& block : down_blocks_) x = block(x);
  x = mid_block(x);
  return conv_out(torch::silu(conv_norm_out(x)));
}

VaeDecoderImpl::VaeDecoderImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options) {
  const auto& ch = config.block_out_channels;
  const int64_t groups = config.norm_num_groups;
  conv_in = register_module("conv_in", Conv2d(config.latent_channels, ch.back(), 3, 1, 1, options));
  mid_block = register_module("mid_block",
                              VaeMidBlock(ch.back(), groups, config.mid_block_add_attention, options));
  auto up_blocks = register_module("up_blocks", torch::nn::ModuleList());
  // Channels in reverse: up_blocks.0 works at block_out_channels[-1].
  int64_t channels = ch.back();
  for (size_t i = 0; i < ch.size(); ++i) {
    const int64_t out = ch[ch.size() - 1 - i];
    const bool is_final = i + 1 == ch.size();
    up_blocks_.emplace_back(channels, out, config.layers_per_block + 1, groups, !is_final, options);
    up_blocks->push_back(up_blocks_.back());
    channels = out;
  }
  conv_norm_out = register_module("conv_norm_out", GroupNorm(groups, ch.front(), diffusers::kVaeNormEps, options));
  conv_out = register_module("conv_out", Conv2d(ch.front(), config.out_channels, 3, 1, 1, options));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& latent) {
  torch::Tensor x = conv_in(latent);
  x = mid_block(x);
  for (auto& block : up_blocks_) x = block(x);
  return conv_out(torch::silu(conv_norm_out(x)));
}

AutoencoderKLImpl::AutoencoderKLImpl(const diffusers::VaeConfig& config, const torch::TensorOptions& options)
    : config_(config) {
  encoder = register_module("encoder", VaeEncoder(config, options));
  decoder = register_module("decoder", VaeDecoder(config, options));
  const int64_t z = config.latent_channels;
  if (config.use_quant_conv) quant_conv = register_module("quant_conv", Conv2d(2 * z, 2 * z, 1, 1, 0, options));
  if (config.use_post_quant_conv) {
    post_quant_conv = register_module("post_quant_conv", Conv2d(z, z, 1, 1, 0, options));
  }
}

LatentDistribution AutoencoderKLImpl::Encode(const torch::Tensor& image) {
  torch::Tensor moments = encoder(image);
  if (quant_conv) moments = quant_conv(moments);
  auto halves = moments.chunk(2, 1);
  return LatentDistribution{halves[0], torch::clamp(halves[1], -30.0, 20.0)};
}

torch::Tensor AutoencoderKLImpl::Decode(const torch::Tensor& latent) {
  TORCH_CHECK(latent.dim() == 4 && latent.size(1) == config_.latent_channels,
              "VAE decoder: expected a latent [B, ", config_.latent_channels, ", h, w], got ", latent.sizes());
  torch::Tensor z = post_quant_conv ? post_quant_conv(latent) : latent;
  return decoder(z);
}

absl::StatusOr<AutoencoderKL> LoadAutoencoderKL(const std::string& vae_dir,
                                                const torch::TensorOptions& options) {
  ASSIGN_OR_RETURN(diffusers::VaeConfig config, diffusers::LoadVaeConfig(diffusers::ConfigPath(vae_dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(vae_dir, diffusers::kDiffusersWeightsBase));
  AutoencoderKL vae(config, options);
  absl::Status loaded = LoadParameters(*vae, weights);
  if (!loaded.ok()) {
    return absl::Status(loaded.code(), absl::StrCat(vae_dir, ": ", loaded.message()));
  }
  return vae;
}

absl::Status SaveAutoencoderKL(AutoencoderKL& vae, const std::string& vae_dir, torch::Dtype on_disk,
                               uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(vae_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", vae_dir, ": ", ec.message()));
  RETURN_IF_ERROR(SaveParameters(*vae, vae_dir, diffusers::kDiffusersWeightsBase, on_disk, max_shard_bytes));
  return WriteFileAtomically(diffusers::ConfigPath(vae_dir), vae->config().source_json);
}

}  // namespace align::models
