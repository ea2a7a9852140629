#include "worker/models/unet_blocks.h"

#include <cstdint>

#include <torch/torch.h>

#include "worker/models/activation_recompute.h"

namespace align::models {
namespace {

ResnetBlock2D MakeResnet(const StageOptions& opts, int64_t in_channels,
                         const torch::TensorOptions& options) {
  return ResnetBlock2D(in_channels, opts.out_channels, opts.temb_channels, opts.norm_groups,
                       opts.norm_eps, opts.output_scale_factor, options);
}

}  // namespace

torch::Tensor RunResnet(ResnetBlock2D& resnet, const torch::Tensor& x, const torch::Tensor& temb,
                        bool recompute) {
  if (!recompute) return resnet(x, temb);
  return RecomputeInBackward([resnet](const std::vector<torch::Tensor>& in) mutable {
    return resnet(in[0], in[1]);
  }, {x, temb});
}

bool RecomputeBlockWalk::Enter() {
  if (probe_ != nullptr) probe_->Enter(next_);
  if (recompute_ == nullptr) return false;
  TORCH_CHECK(next_ < recompute_->size(), "recompute block ", next_, " has no recompute choice");
  return (*recompute_)[next_];
}

void RecomputeBlockWalk::Leave() {
  if (probe_ != nullptr) probe_->Leave(next_);
  ++next_;
}

DownStageImpl::DownStageImpl(const StageOptions& opts, bool add_downsample,
                             int64_t downsample_padding, const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  torch::nn::ModuleList attentions;
  if (opts.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (int64_t j = 0; j < opts.layers; ++j) {
    resnets_.push_back(MakeResnet(opts, j == 0 ? opts.in_channels : opts.out_channels, options));
    resnets->push_back(resnets_.back());
    if (opts.cross_attention) {
      attentions_.emplace_back(opts.transformer, options);
      attentions->push_back(attentions_.back());
    }
  }
  if (add_downsample) {
    auto downsamplers = register_module("downsamplers", torch::nn::ModuleList());
    downsample_ = Downsample2D(opts.out_channels, downsample_padding, options);
    downsamplers->push_back(downsample_);
  }
}

torch::Tensor DownStageImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                     const torch::Tensor& context, std::vector<torch::Tensor>& skips,
                                     RecomputeBlockWalk& blocks) {
  for (size_t j = 0; j < resnets_.size(); ++j) {
    const bool recompute = blocks.Enter();
    x = RunResnet(resnets_[j], x, temb, recompute);
    if (!attentions_.empty()) x = attentions_[j](x, context, recompute);
    blocks.Leave();
    skips.push_back(x);
  }
  if (!downsample_.is_empty()) {
    x = downsample_(x);
    skips.push_back(x);
  }
  return x;
}

MidStageImpl::MidStageImpl(const StageOptions& opts, const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  auto attentions = register_module("attentions", torch::nn::ModuleList());
  resnet_in = MakeResnet(opts, opts.in_channels, options);
  attention = Transformer2DModel(opts.transformer, options);
  resnet_out = MakeResnet(opts, opts.out_channels, options);
  resnets->push_back(resnet_in);
  attentions->push_back(attention);
  resnets->push_back(resnet_out);
}

torch::Tensor MidStageImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                    const torch::Tensor& context, RecomputeBlockWalk& blocks) {
  const bool recompute = blocks.Enter();
  x = RunResnet(resnet_in, x, temb, recompute);
  x = attention(x, context, recompute);
  x = RunResnet(resnet_out, x, temb, recompute);
  blocks.Leave();
  return x;
}

UpStageImpl::UpStageImpl(const StageOptions& opts, int64_t prev_channels,
                         std::vector<int64_t> skip_channels, bool add_upsample,
                         const torch::TensorOptions& options) {
  auto resnets = register_module("resnets", torch::nn::ModuleList());
  torch::nn::ModuleList attentions;
  if (opts.cross_attention) attentions = register_module("attentions", torch::nn::ModuleList());
  for (size_t j = 0; j < skip_channels.size(); ++j) {
    const int64_t input = (j == 0 ? prev_channels : opts.out_channels) + skip_channels[j];
    resnets_.push_back(MakeResnet(opts, input, options));
    resnets->push_back(resnets_.back());
    if (opts.cross_attention) {
      attentions_.emplace_back(opts.transformer, options);
      attentions->push_back(attentions_.back());
    }
  }
  if (add_upsample) {
    auto upsamplers = register_module("upsamplers", torch::nn::ModuleList());
    upsample_ = Upsample2D(opts.out_channels, options);
    upsamplers->push_back(upsample_);
  }
}

torch::Tensor UpStageImpl::forward(torch::Tensor x, const torch::Tensor& temb,
                                   const torch::Tensor& context, std::vector<torch::Tensor>& skips,
                                   RecomputeBlockWalk& blocks) {
  for (size_t j = 0; j < resnets_.size(); ++j) {
    x = torch::cat({x, skips.back()}, 1);
    skips.pop_back();
    const bool recompute = blocks.Enter();
    x = RunResnet(resnets_[j], x, temb, recompute);
    if (!attentions_.empty()) x = attentions_[j](x, context, recompute);
    blocks.Leave();
  }
  if (!upsample_.is_empty()) {
    TORCH_CHECK(!skips.empty(), "up stage has no skip connection left to size its upsample");
    const std::vector<int64_t> size = {skips.back().size(2), skips.back().size(3)};
    x = upsample_(x, size);
  }
  return x;
}

}  // namespace align::models
