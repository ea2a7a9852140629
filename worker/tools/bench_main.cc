// align-bench: training-step throughput of a UNet config (random weights).

#include <iostream>

#include <mpi.h>

#include "CLI/CLI.hpp"
#include "worker/tools/bench.h"

int main(int argc, char** argv) {
  CLI::App app{"align-bench: times preference-training steps and prints one JSON line"};
  align::tools::BenchOptions o;
  app.add_option("--unet-config", o.unet_config, "UNet config.json (e.g. tests/data/sdxl-base/unet/config.json)")
      ->required()->check(CLI::ExistingFile);
  app.add_option("--loss", o.loss, "dpo | fdpo | mapo | sft (common/loss_spec.h)");
  app.add_option("--divergence", o.divergence, "f-divergence for fdpo");
  app.add_option("--pairs", o.pairs, "preference pairs per micro-batch");
  app.add_option("--micro-batches", o.micro_batches, "forward + backward passes per optimizer step (grad_accum)");
  app.add_option("--resolution", o.resolution, "image resolution in pixels (latents are 1/8)");
  app.add_option("--tokens", o.tokens, "text tokens per prompt");
  app.add_option("--precision", o.precision, "fp32 | bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_option("--gradient-checkpointing", o.gradient_checkpointing,
                 "none | full | auto: recompute activations in backward (alone: full)")
      ->expected(0, 1)
      ->default_str("full")
      ->check(CLI::IsMember({"none", "full", "auto"}));
  app.add_option("--memory-budget-gib", o.memory_budget_gib,
                 "the device memory --gradient-checkpointing auto plans for (default: 85% of the GPU's)");
  app.add_flag("--channels-last", o.channels_last, "NHWC activations and convolution weights (channels_last)");
  app.add_flag("--fused-geglu", o.fused_geglu, "the feed-forward GEGLU as one fused op (fused_geglu)");
  app.add_option("--bf16-weight-casts", o.bf16_weight_casts,
                 "bf16: cast each fp32 weight per forward, or once per step (bf16_weight_casts)")
      ->check(CLI::IsMember({"per_forward", "per_step"}));
  app.add_flag("--fused-optimizer", o.fused_optimizer, "AdamW as one multi-tensor kernel per device (optim.fused)");
  app.add_flag("--shard-optimizer", o.shard_optimizer,
               "AdamW state and averaged gradients sharded over the ranks of mpirun (optim.shard)");
  app.add_flag("--overlap-reduction", o.overlap_reduction,
               "reduce gradients bucket by bucket while backward runs (optim.overlap)");
  app.add_option("--bucket-mb", o.bucket_mb, "MiB of gradient reduced in one collective (optim.bucket_mb)")
      ->check(CLI::Range(1e-6, 4096.0));
  app.add_flag("--cuda-graph", o.cuda_graph,
               "capture the whole step in one CUDA graph and replay it (needs --fused-optimizer and a GPU)");
  app.add_option("--device", o.device, "auto | cpu | cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--warmup", o.warmup_steps, "untimed steps first");
  app.add_option("--steps", o.steps, "timed steps (the median is reported)");
  app.add_option("--seed", o.seed, "seed for weights and data");
  app.add_option("--profile", o.profile_path, "write a Kineto trace of one extra step here (Chrome-trace JSON)");
  CLI11_PARSE(app, argc, argv);
  if (!o.shard_optimizer) return align::tools::RunBench(o, std::cout, std::cerr);
  // Sharding needs the ranks' collectives; without it the bench stays one plain process.
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  const int code = align::tools::RunBench(o, std::cout, std::cerr);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  // A rank that failed alone must not leave the others in a collective.
  if (code != 0 && size > 1) MPI_Abort(MPI_COMM_WORLD, code);
  MPI_Finalize();
  return code;
}
