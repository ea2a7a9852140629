#include "worker/models/transformer_2d.h"

#include <torch/torch.h>

#include "worker/models/activation_recompute.h"
#include "worker/models/fused_geglu.h"

namespace align::models {

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out, const torch::TensorOptions& options) {
  proj = register_module("proj", Linear(dim_in, dim_out * 2, true, options));
}

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
  const torch::Tensor projection = proj(x);
  return fused_ ? FusedGeglu(projection) : UnfusedGeglu(projection);
}

FeedForwardImpl::FeedForwardImpl(int64_t dim, const torch::TensorOptions& options) {
  const int64_t inner = dim * 4;
  auto net = register_module("net", torch::nn::ModuleList());
  geglu = GEGLU(dim, inner, options);
  out = Linear(inner, dim, true, options);
  net->push_back(geglu);
  net->push_back(Placeholder());
  net->push_back(out);
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return out(geglu(x)); }

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t head_dim,
                                                     int64_t context_dim, bool upcast,
                                                     const torch::TensorOptions& options) {
  norm1 = register_module("norm1", LayerNorm(dim, 1e-5, options));
  attn1 = register_module("attn1", Attention(dim, 0, heads, head_dim, upcast, options));
  norm2 = register_module("norm2", LayerNorm(dim, 1e-5, options));
  attn2 = register_module("attn2", Attention(dim, context_dim, heads, head_dim, upcast, options));
  norm3 = register_module("norm3", LayerNorm(dim, 1e-5, options));
  ff = register_module("ff", FeedForward(dim, options));
}

torch::Tensor BasicTransformerBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
  torch::Tensor h = attn1(norm1(x)) + x;
  h = attn2(norm2(h), context) + h;
  return ff(norm3(h)) + h;
}

Transformer2DModelImpl::Transformer2DModelImpl(const Transformer2DOptions& opts,
                                               const torch::TensorOptions& options)
    : linear_projection_(opts.linear_projection) {
  const int64_t c = opts.channels;
  // diffusers normalises the transformer input with eps 1e-6, unlike the resnets.
  norm = register_module("norm", GroupNorm(opts.norm_groups, c, 1e-6, options));
  if (linear_projection_) {
    proj_in_linear = register_module("proj_in", Linear(c, c, true, options));
  } else {
    proj_in_conv = register_module("proj_in", Conv2d(c, c, 1, 1, 0, options));
  }
  auto transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < opts.layers; ++i) {
    blocks_.emplace_back(c, opts.heads, c / opts.heads, opts.context_dim, opts.upcast_attention, options);
    transformer_blocks->push_back(blocks_.back());
  }
  if (linear_projection_) {
    proj_out_linear = register_module("proj_out", Linear(c, c, true, options));
  } else {
    proj_out_conv = register_module("proj_out", Conv2d(c, c, 1, 1, 0, options));
  }
}

torch::Tensor Transformer2DModelImpl::forward(const torch::Tensor& x, const torch::Tensor& context,
                                              bool recompute) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor tokens = norm(x);
  if (!linear_projection_) tokens = proj_in_conv(tokens);
  tokens = tokens.permute({0, 2, 3, 1}).reshape({b, h * w, c});
  if (linear_projection_) tokens = proj_in_linear(tokens);

  for (BasicTransformerBlock& block : blocks_) {
    if (recompute) {
      tokens = RecomputeInBackward([block](const std::vector<torch::Tensor>& in) mutable {
        return block(in[0], in[1]);
      }, {tokens, context});
    } else {
      tokens = block(tokens, context);
    }
  }

  if (linear_projection_) tokens = proj_out_linear(tokens);
  // For a channels-last x the permute already is channels-last memory: no copy.
  torch::Tensor out = tokens.reshape({b, h, w, c}).permute({0, 3, 1, 2}).contiguous(x.suggest_memory_format());
  if (!linear_projection_) out = proj_out_conv(out);
  return out + x;
}

}  // namespace align::models
