#pragma once
// align-bench: times training steps (forward, loss, backward, optimizer) of a
// UNet config with random weights on synthetic pairs. Plain types: the
// command line does not include LibTorch.

#include <cstdint>
#include <ostream>
#include <string>

namespace align::tools {

struct BenchOptions {
  std::string unet_config;        // a UNet config.json (weights are random)
  std::string loss = "dpo";       // dpo | fdpo | mapo | sft
  std::string divergence = "js";  // for fdpo
  int pairs = 1;                  // preference pairs per micro-batch
  int micro_batches = 1;          // forward + backward passes per optimizer step (batch.grad_accum)
  int resolution = 1024;          // pixels; latents are resolution / 8
  int tokens = 77;
  std::string precision = "bf16";  // fp32 | bf16
  // none | full | auto (docs/training.md): auto measures the activations and
  // recomputes the cheapest blocks that fit memory_budget_gib.
  std::string gradient_checkpointing = "none";
  double memory_budget_gib = 0;  // auto only; 0: the trainer's default budget
  bool channels_last = false;      // NHWC activations and convolution weights
  bool fused_geglu = false;        // the feed-forward GEGLU as one fused op (fused_geglu)
  std::string bf16_weight_casts = "per_forward";  // or per_step (JobSpec::bf16_weight_casts)
  bool fused_optimizer = false;    // optim.fused: ATen's multi-tensor AdamW
  // optim.shard: optimizer state and averaged gradients sharded over the
  // ranks of the MPI world (the caller has initialised MPI; run under mpirun).
  bool shard_optimizer = false;
  // optim.overlap: gradients reduced bucket by bucket during backward.
  bool overlap_reduction = false;
  double bucket_mb = 25;  // optim.bucket_mb: MiB of gradient per collective
  // The whole step (forward, backward, clipping, fused AdamW) captured as one
  // CUDA graph and replayed (worker/engine/step_graph.h). Needs a CUDA device
  // and fused_optimizer; not with shard_optimizer.
  bool cuda_graph = false;
  std::string device = "auto";     // auto | cpu | cuda
  int warmup_steps = 2;
  int steps = 5;
  uint64_t seed = 0;
  // Non-empty: one more step after the timed ones runs under the profiler and
  // its Kineto trace (Chrome-trace JSON) is written here.
  std::string profile_path;
};

// Prints one JSON line (on rank 0 only, when sharded over ranks); returns the
// exit code (0 ok, 2 bad options).
int RunBench(const BenchOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::tools
