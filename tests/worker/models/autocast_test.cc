// Autocast's bf16 weight copies kept for a whole training step
// (WeightCastCache): the same gradients as casting per forward, with and
// without activation recomputation, and fewer casts.

#include "worker/models/autocast.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/record_function.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "worker/models/unet_2d_condition.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"

namespace align::models {
namespace {

const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

std::atomic<int64_t> copies{0};

// Counts aten::_to_copy (every dtype cast) while alive, on every thread.
class CopyCounter {
 public:
  CopyCounter() {
    copies = 0;
    handle_ = at::addGlobalCallback(at::RecordFunctionCallback(
        [](const at::RecordFunction& fn) -> std::unique_ptr<at::ObserverContext> {
          if (std::strcmp(fn.name(), "aten::_to_copy") == 0) ++copies;
          return nullptr;
        }));
  }
  ~CopyCounter() { at::removeCallback(handle_); }
  int64_t count() const { return copies.load(); }

 private:
  at::CallbackHandle handle_;
};

struct StepOutcome {
  std::map<std::string, torch::Tensor> grads;
  int64_t casts = 0;
};

// Two micro-batches of forward + MSE + backward under bf16 autocast on the
// CPU, the weight copies kept per forward or for the step.
StepOutcome TwoMicroBatches(bool recompute, bool per_step) {
  auto io = ReadTensors(kTiny + "/io.safetensors");
  EXPECT_TRUE(io.ok()) << io.status();
  auto unet = LoadUNet(kTiny + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  EXPECT_TRUE(unet.ok()) << unet.status();
  (*unet)->train();
  (*unet)->set_gradient_checkpointing(recompute);
  const UNetInputs in{io->at("sample"), io->at("timestep"), io->at("encoder_hidden_states"), io->at("text_embeds"),
                      io->at("time_ids")};
  StepOutcome outcome;
  {
    CopyCounter counter;
    std::unique_ptr<WeightCastCache> cache = per_step ? std::make_unique<WeightCastCache>() : nullptr;
    for (int micro = 0; micro < 2; ++micro) {
      torch::Tensor loss;
      {
        AutocastScope autocast(torch::Device(torch::kCPU), /*enabled=*/true);
        // The second micro-batch sees other inputs, as in training.
        UNetInputs batch = in;
        batch.sample = in.sample * (1.0 + 0.5 * micro);
        loss = torch::mse_loss((*unet)->forward(batch).to(torch::kFloat), io->at("target"));
      }
      (loss / 2.0).backward();
    }
    cache.reset();
    outcome.casts = counter.count();
  }
  EXPECT_FALSE(WeightCastCache::Active());
  for (const auto& p : (*unet)->named_parameters()) outcome.grads[p.key()] = p.value().grad().clone();
  return outcome;
}

void ExpectSameGradientsAndFewerCasts(bool recompute) {
  const StepOutcome per_forward = TwoMicroBatches(recompute, /*per_step=*/false);
  const StepOutcome per_step = TwoMicroBatches(recompute, /*per_step=*/true);
  // The same bf16 values feed the same ops: bit-identical gradients, none
  // missing (a copy cast without autograd history would leave a weight's
  // gradient at zero).
  int64_t weights = 0;
  for (const auto& [name, g] : per_forward.grads) {
    EXPECT_TRUE(torch::equal(per_step.grads.at(name), g)) << name;
    if (g.dim() >= 2) ++weights;
  }
  // Every matmul / convolution weight is cast once less at least (the second
  // micro-batch's forward, or its recomputation).
  std::cout << "casts per step: " << per_forward.casts << " per forward, " << per_step.casts << " per step; "
            << weights << " weights\n";
  EXPECT_LE(per_step.casts, per_forward.casts - weights);
}

TEST(WeightCastCacheTest, SameGradientsFewerCasts) { ExpectSameGradientsAndFewerCasts(/*recompute=*/false); }

TEST(WeightCastCacheTest, SameGradientsFewerCastsWithActivationRecomputation) {
  ExpectSameGradientsAndFewerCasts(/*recompute=*/true);
}

}  // namespace
}  // namespace align::models
