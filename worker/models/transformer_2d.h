#pragma once

#include <cstdint>
#include <vector>

// diffusers' Transformer2DModel as SDXL uses it: GroupNorm, a projection in,
// a stack of BasicTransformerBlocks (self-attention, cross-attention to the
// text embeddings, GEGLU feed-forward, each pre-LayerNorm with a residual),
// a projection out, and a residual around the whole.

#include "worker/models/attention.h"
#include "worker/models/layers.h"

namespace align::models {

// GEGLU: the projection's first half gated by gelu of its second half.
class GEGLUImpl : public torch::nn::Module {
 public:
  GEGLUImpl(int64_t dim_in, int64_t dim_out, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

  // The gating as one op (fused_geglu.h): reads the projection once and saves
  // only it for backward. The same math; parameters unchanged.
  void set_fused(bool enabled) { fused_ = enabled; }
  bool fused() const { return fused_; }

 private:
  Linear proj{nullptr};
  bool fused_ = false;
};
TORCH_MODULE(GEGLU);

class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  GEGLU geglu{nullptr};  // net.0
  Linear out{nullptr};   // net.2 (net.1 is a dropout)
};
TORCH_MODULE(FeedForward);

class BasicTransformerBlockImpl : public torch::nn::Module {
 public:
  BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim, int64_t context_dim,
                            bool upcast, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);

 private:
  LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  Attention attn1{nullptr}, attn2{nullptr};
  FeedForward ff{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct Transformer2DOptions {
  int64_t channels;
  int64_t heads;
  int64_t layers;
  int64_t context_dim;
  int64_t norm_groups;
  bool linear_projection;
  bool upcast_attention;
};

class Transformer2DModelImpl : public torch::nn::Module {
 public:
  Transformer2DModelImpl(const Transformer2DOptions& opts, const torch::TensorOptions& options);
  // x: [B, C, H, W]; context: [B, tokens, context_dim].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context, bool recompute);

 private:
  GroupNorm norm{nullptr};
  // proj_in / proj_out are Linear (use_linear_projection) or 1x1 Conv2d.
  Linear proj_in_linear{nullptr}, proj_out_linear{nullptr};
  Conv2d proj_in_conv{nullptr}, proj_out_conv{nullptr};
  std::vector<BasicTransformerBlock> blocks_;
  bool linear_projection_;
};
TORCH_MODULE(Transformer2DModel);

}  // namespace align::models
