#include "worker/engine/activation_measurement.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/Allocator.h>
#include <c10/util/ThreadLocalDebugInfo.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "worker/engine/device_memory.h"
#include "worker/models/autocast.h"
#include "worker/models/flop_counter.h"

namespace align::engine {
namespace {

// Live CPU bytes as c10's CPU allocator reports them to a memory profiler:
// installed as this thread's profiler state, it hears every allocation and
// free made on the thread while it is installed.
class CpuAllocationListener : public c10::MemoryReportingInfoBase {
 public:
  bool memoryProfilingEnabled() const override { return true; }
  void reportMemoryUsage(void* /*ptr*/, int64_t alloc_size, size_t /*total_allocated*/, size_t /*total_reserved*/,
                         c10::Device device) override {
    if (device.is_cpu()) live_ += alloc_size;
  }
  int64_t live() const { return live_; }

 private:
  int64_t live_ = 0;
};

// Live bytes and FLOPs across each recompute block of one forward.
class BlockMemoryProbe : public models::RecomputeBlockProbe {
 public:
  BlockMemoryProbe(torch::Device device, const CpuAllocationListener& cpu) : device_(device), cpu_(cpu) {}

  int64_t LiveBytes() const { return device_.is_cuda() ? AllocatedDeviceBytes(device_) : cpu_.live(); }

  void Enter(size_t block) override {
    if (growth_.size() <= block) {
      growth_.resize(block + 1, 0);
      flops_.resize(block + 1, 0);
    }
    live_at_enter_ = LiveBytes();
    count_.emplace();
  }
  void Leave(size_t block) override {
    growth_[block] = LiveBytes() - live_at_enter_;
    flops_[block] = count_->flops();
    count_.reset();
  }

  const std::vector<int64_t>& growth() const { return growth_; }
  const std::vector<double>& flops() const { return flops_; }

 private:
  torch::Device device_;
  const CpuAllocationListener& cpu_;
  int64_t live_at_enter_ = 0;
  std::optional<models::ScopedFlopCount> count_;
  std::vector<int64_t> growth_;
  std::vector<double> flops_;
};

struct ForwardMemory {
  std::vector<int64_t> block_growth;
  std::vector<double> block_flops;
  int64_t kept_bytes = 0;  // live after the forward minus before: what it keeps for backward
};

ForwardMemory MeasureForward(models::UNet2DConditionModelImpl& unet, const models::UNetInputs& inputs,
                             torch::Device device, bool bf16) {
  auto listener = std::make_shared<CpuAllocationListener>();
  // Installed until the forward's graph is freed, so its frees are heard too.
  c10::DebugInfoGuard listening(c10::DebugInfoKind::PROFILER_STATE, listener);
  BlockMemoryProbe probe(device, *listener);
  ForwardMemory m;
  {
    torch::AutoGradMode grad(true);
    models::AutocastScope autocast(device, bf16);
    if (device.is_cuda()) SynchronizeDevice(device);
    const int64_t before = probe.LiveBytes();
    torch::Tensor output = unet.forward(inputs, &probe);
    m.kept_bytes = probe.LiveBytes() - before;
  }
  m.block_growth = probe.growth();
  m.block_flops = probe.flops();
  return m;
}

}  // namespace

int64_t MeasureKeptBytes(models::UNet2DConditionModelImpl& unet, const models::UNetInputs& inputs,
                         torch::Device device, bool bf16) {
  const bool was_training = unet.is_training();
  unet.train();
  const int64_t kept = MeasureForward(unet, inputs, device, bf16).kept_bytes;
  unet.train(was_training);
  return kept;
}

ActivationFigures MeasureActivations(models::UNet2DConditionModelImpl& unet, const models::UNetInputs& inputs,
                                     torch::Device device, bool bf16) {
  const bool was_training = unet.is_training();
  const std::set<std::string> was_recomputed = unet.recomputed_blocks();
  unet.train();
  unet.set_gradient_checkpointing(false);
  const ForwardMemory kept = MeasureForward(unet, inputs, device, bf16);
  unet.set_gradient_checkpointing(true);
  const ForwardMemory recomputed = MeasureForward(unet, inputs, device, bf16);
  unet.train(was_training);
  const absl::Status restored = unet.set_recomputed_blocks(was_recomputed);
  TORCH_CHECK(restored.ok(), restored.ToString());  // the UNet's own names

  const std::vector<std::string>& names = unet.recompute_block_names();
  TORCH_CHECK(kept.block_growth.size() == names.size() && recomputed.block_growth.size() == names.size(),
              "measured ", kept.block_growth.size(), " recompute blocks of ", names.size());
  ActivationFigures figures;
  figures.activation_bytes = kept.kept_bytes;
  for (size_t i = 0; i < names.size(); ++i) {
    figures.blocks.push_back(
        {names[i], std::max<int64_t>(0, kept.block_growth[i] - recomputed.block_growth[i]), kept.block_flops[i]});
  }
  return figures;
}

absl::StatusOr<ActivationFigures> MeasureActivationsAt(models::UNet2DConditionModelImpl& unet,
                                                       const data::PairShape& shape, int64_t samples,
                                                       torch::Device device, bool bf16) {
  const diffusers::UNetConfig& c = unet.config();
  // From a generator of its own: measuring leaves torch's global generators as they were.
  at::Generator gen = at::detail::createCPUGenerator(0);
  const auto inputs_of = [&](int64_t n) {
    auto cpu = torch::TensorOptions().dtype(torch::kFloat);
    models::UNetInputs in;
    in.sample = at::randn({n, shape.latent_channels, shape.latent_height, shape.latent_width}, gen, cpu).to(device);
    in.timestep = at::randint(0, 1000, {n}, gen, cpu.dtype(torch::kLong)).to(device);
    in.encoder_hidden_states = at::randn({n, shape.tokens, shape.context_dim}, gen, cpu).to(device);
    if (c.text_time_embedding) {
      in.text_embeds = at::randn({n, c.pooled_text_dim()}, gen, cpu).to(device);
      in.time_ids = torch::full({n, 6}, 1024.0, cpu).to(device);
    }
    return in;
  };
  const ActivationFigures one = MeasureActivations(unet, inputs_of(1), device, bf16);
  const ActivationFigures two = MeasureActivations(unet, inputs_of(2), device, bf16);
  return ExtrapolateToSamples(one, two, samples);
}

}  // namespace align::engine
