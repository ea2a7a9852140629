#pragma once
// What a training step does with the trainable parameters between backward
// passes: gradients start at zero, are averaged over ranks, measured (global
// norm), scaled (clipping) and applied by the optimizer. Two ways of doing it
// over data-parallel ranks, chosen by `optim.shard`:
//   replicated: every rank holds every gradient and the whole optimizer state
//     (GradientReducer all-reduces the gradients, each rank takes the same step);
//   sharded (worker/engine/sharded_optimizer.h): each rank holds the averaged
//     gradient and the optimizer state of its shard of the flat parameters only.
// Either way, `optim.overlap` reduces the gradients bucket by bucket while
// the step's last backward runs (worker/engine/overlapped_reduction.h)
// instead of after it.
// The trainer and align-bench see this interface only.

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <torch/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "worker/engine/communicator.h"
#include "worker/engine/optimizer.h"

namespace align::engine {

// Gradient storage of one rank, in bytes, as the updater counts it: full-size
// gradients, packed buckets being reduced, the averaged shard.
struct GradientMemory {
  int64_t peak = 0;  // the most held at once in the last step, until AverageGradients returned
  int64_t held = 0;  // held from AverageGradients to the optimizer step
};

class ParameterUpdater {
 public:
  virtual ~ParameterUpdater() = default;
  // Before a step's first backward.
  virtual void ZeroGradients() = 0;
  // Before the step's last backward (earlier ones only accumulate). With
  // overlap, that backward's final gradients start their buckets' collectives.
  virtual void BeforeLastBackward() = 0;
  // After the step's last backward: the mean gradient over ranks (collective).
  // With overlap: the buckets backward did not start, then waits for all.
  virtual void AverageGradients() = 0;
  // The L2 norm of the whole averaged gradient, the same on every rank
  // (collective when sharded); not finite when a gradient is not.
  virtual double GradNorm() = 0;
  // Multiplies the averaged gradient by `scale` (clipping).
  virtual void ScaleGradients(double scale) = 0;
  // One optimizer step at learning rate `lr`; afterwards every rank holds
  // every updated parameter (collective when sharded).
  virtual void Step(double lr) = 0;
  // The optimizer state as Optimizer::State() names it ("<param>.<slot>" and
  // "step"), whole, whichever way it is held. Collective when sharded: every
  // rank calls it, at the same point.
  virtual std::map<std::string, torch::Tensor> State() = 0;
  // Loads state as State() returns it (a checkpoint of either kind).
  virtual absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) = 0;
  // Bytes of optimizer state this rank holds between steps.
  virtual int64_t StateBytes() const = 0;
  virtual GradientMemory GradientBytes() const = 0;

  // --- The same step without host synchronisation, for a captured CUDA
  // graph (worker/engine/step_graph.h). Only the replicated updater of one
  // rank with the fused AdamW has it (a collective of MPI cannot be
  // captured); the others throw (c10::Error) and say why here.
  virtual absl::Status CanStepOnDevice() const;
  // ZeroGradients that keeps every gradient's memory (zeroed in place): a
  // replayed graph writes to the addresses it captured, and backward then
  // accumulates into them. A gradient backward has not made yet is left for
  // it to make (a parameter the step does not use keeps none, as eagerly).
  virtual void ZeroGradientsInPlace();
  // GradNorm as a 0-dim fp64 tensor on the device.
  virtual torch::Tensor GradNormOnDevice();
  // Clipping as the trainer decides it (times grad_clip / (norm + 1e-6)
  // where norm > grad_clip), decided on the device.
  virtual void ClipGradientsOnDevice(const torch::Tensor& norm, double grad_clip);
  // Optimizer::StepOnDevice: lr and skip are 0-dim fp32 device tensors.
  virtual void StepOnDevice(const torch::Tensor& lr, const torch::Tensor& skip);
  // "replicated" or "sharded over N ranks".
  virtual std::string Describe() const = 0;
};

// The replicated or sharded updater for `spec.shard`, overlapped with
// backward for `spec.overlap`. InvalidArgument where sharding cannot hold the
// parameters (adafactor; not one fp32 device).
absl::StatusOr<std::unique_ptr<ParameterUpdater>> MakeParameterUpdater(const NamedParameters& params,
                                                                       const OptimSpec& spec, Communicator& comm);

// What the trainer does between the last backward and the next step, on the
// device: averages the gradients (nothing to do on one rank), measures their
// norm, and unless the step is skipped clips them (grad_clip > 0) and steps
// at `lr` (0-dim fp32 on the device). Skipped, as the trainer skips: where
// the norm is not finite or `nonfinite_losses` (0-dim, a count of micro-
// batches whose loss was not finite) is above 0; nothing is updated and no
// step is counted. No host synchronisation: `updater.CanStepOnDevice()` must
// be OK.
struct DeviceUpdate {
  torch::Tensor grad_norm;  // 0-dim fp64
  torch::Tensor skipped;    // 0-dim fp32: 1 skipped, 0 stepped
};
DeviceUpdate UpdateOnDevice(ParameterUpdater& updater, const torch::Tensor& lr, double grad_clip,
                            const torch::Tensor& nonfinite_losses);

}  // namespace align::engine
