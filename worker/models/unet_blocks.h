#pragma once
// The UNet's stages. A down stage is `layers` x (ResnetBlock2D [+ Transformer2D])
// then an optional stride-2 downsample, and hands every intermediate output to
// the up path as a skip connection. An up stage consumes layers+1 skips, each
// concatenated onto its input channels before the resnet. "CrossAttn" stages
// (CrossAttnDownBlock2D / CrossAttnUpBlock2D in diffusers) are the ones with
// transformers; DownBlock2D / UpBlock2D have none.
//
// Activation recomputation is chosen per recompute block: one layer of a down
// or up stage (its resnet and, in a CrossAttn stage, the transformer after
// it), or the whole mid stage. A recomputed block recomputes its resnet and
// each of its transformer's BasicTransformerBlocks separately, as diffusers'
// gradient checkpointing does, so backward rematerialises one piece at a time.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "worker/models/resnet.h"
#include "worker/models/transformer_2d.h"

namespace align::models {

struct StageOptions {
  int64_t in_channels;
  int64_t out_channels;
  int64_t temb_channels;
  int64_t layers;
  bool cross_attention;
  Transformer2DOptions transformer;  // channels = out_channels
  int64_t norm_groups;
  double norm_eps;
  double output_scale_factor;
};

// Runs a resnet (and its transformer, if any), its activations recomputed in backward when asked.
torch::Tensor RunResnet(ResnetBlock2D& resnet, const torch::Tensor& x, const torch::Tensor& temb,
                        bool recompute);

// Sees each recompute block of a forward begin and end (the activation
// measurement's boundaries, recompute_block_costs.h). `block` counts the
// blocks in the order forward runs them.
class RecomputeBlockProbe {
 public:
  virtual ~RecomputeBlockProbe() = default;
  virtual void Enter(size_t block) = 0;
  virtual void Leave(size_t block) = 0;
};

// The recompute blocks of one forward, walked in order by the stages: whether
// the next block recomputes, with the probe told around it.
class RecomputeBlockWalk {
 public:
  // recompute[i]: block i recomputes; null: none does. probe may be null.
  RecomputeBlockWalk(const std::vector<bool>* recompute, RecomputeBlockProbe* probe)
      : recompute_(recompute), probe_(probe) {}
  // The next block begins; returns whether it recomputes.
  bool Enter();
  void Leave();
  size_t visited() const { return next_; }

 private:
  const std::vector<bool>* recompute_;
  RecomputeBlockProbe* probe_;
  size_t next_ = 0;
};

class DownStageImpl : public torch::nn::Module {
 public:
  DownStageImpl(const StageOptions& opts, bool add_downsample, int64_t downsample_padding,
                const torch::TensorOptions& options);
  // Returns the stage output; appends each skip connection to `skips`. Each
  // layer is one recompute block of `blocks`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips, RecomputeBlockWalk& blocks);
  size_t num_layers() const { return resnets_.size(); }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Downsample2D downsample_{nullptr};
};
TORCH_MODULE(DownStage);

class MidStageImpl : public torch::nn::Module {
 public:
  MidStageImpl(const StageOptions& opts, const torch::TensorOptions& options);
  // The whole stage is one recompute block of `blocks`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context,
                        RecomputeBlockWalk& blocks);

 private:
  ResnetBlock2D resnet_in{nullptr}, resnet_out{nullptr};
  Transformer2DModel attention{nullptr};
};
TORCH_MODULE(MidStage);

class UpStageImpl : public torch::nn::Module {
 public:
  // prev_channels: channels arriving from below; skip_channels[j]: channels of
  // the j-th skip this stage consumes.
  UpStageImpl(const StageOptions& opts, int64_t prev_channels, std::vector<int64_t> skip_channels,
              bool add_upsample, const torch::TensorOptions& options);
  // Pops its skips off the back of `skips`, then upsamples to the size of the
  // next skip (the one the following stage consumes first): exactly 2x when
  // the latent divides the UNet's total stride, and still aligned when not.
  // Each layer (after its skip is concatenated) is one recompute block of `blocks`.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& temb, const torch::Tensor& context,
                        std::vector<torch::Tensor>& skips, RecomputeBlockWalk& blocks);
  size_t num_layers() const { return resnets_.size(); }

 private:
  std::vector<ResnetBlock2D> resnets_;
  std::vector<Transformer2DModel> attentions_;
  Upsample2D upsample_{nullptr};
};
TORCH_MODULE(UpStage);

}  // namespace align::models
