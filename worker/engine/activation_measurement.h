#pragma once
// Measures what the UNet's training forward keeps alive for backward, per
// recompute block (recompute_plan.h's figures): the planner of
// `gradient_checkpointing: auto` works from these, not from a guess.
//
// Two training forwards (grad on) on the same inputs: one with nothing
// recomputed, one with every block recomputed. A block's saved bytes are the
// growth of live device memory across it in the first minus that in the
// second (its output, kept either way, cancels). Live memory is the CUDA
// caching allocator's allocated bytes on CUDA, and on the CPU the sum of the
// allocations and frees c10's CPU allocator reports to a memory-profiling
// listener installed for the measurement.

#include <cstdint>

#include <torch/types.h>

#include "common/dataset/manifest.h"
#include "worker/engine/recompute_plan.h"
#include "worker/models/unet_2d_condition.h"

namespace align::engine {

// At exactly `inputs` (their batch). Runs in training mode under bf16
// autocast when `bf16`; leaves the UNet's mode and recomputed blocks as it
// found them.
ActivationFigures MeasureActivations(models::UNet2DConditionModelImpl& unet, const models::UNetInputs& inputs,
                                     torch::Device device, bool bf16);

// What one training forward keeps alive for backward with the blocks the UNet
// recomputes now: the quantity the planner's estimate models.
int64_t MeasureKeptBytes(models::UNet2DConditionModelImpl& unet, const models::UNetInputs& inputs,
                         torch::Device device, bool bf16);

// At `samples` images of `shape` per forward: measured at 1 and 2 samples of
// random inputs and extrapolated (ExtrapolateToSamples), so that the
// measurement itself fits where a full micro-batch without recomputation
// would not.
absl::StatusOr<ActivationFigures> MeasureActivationsAt(models::UNet2DConditionModelImpl& unet,
                                                       const data::PairShape& shape, int64_t samples,
                                                       torch::Device device, bool bf16);

}  // namespace align::engine
