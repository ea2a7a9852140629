// align-worker: the per-GPU process. Subcommands run single tasks locally.

#include <mpi.h>

#include <functional>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "common/imaging/verify_preprocess.h"
#include "worker/control/serve.h"
#include "worker/reward/openclip_convert.h"
#include "worker/runner/device_choice.h"
#include "worker/runner/job_runner.h"
#include "worker/sampling/verify_sampler.h"
#include "worker/sampling/verify_sampling.h"
#include "worker/tools/prepare_command.h"
#include "worker/tools/train_command.h"
#include "worker/tools/verify_model.h"

namespace {

// How a rank's body ended: its exit code, and whether every rank ended the same way at the
// same point (then none waits in a collective).
struct RankExit {
  int code = 0;
  bool on_every_rank = false;
};

// Runs `body` inside MPI; a rank that fails alone takes the whole world down, so no peer is
// left waiting in a collective.
int WithMpi(int argc, char** argv, const std::function<RankExit()>& body) {
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const RankExit exit = body();
  if (exit.code != 0 && !exit.on_every_rank && size > 1) MPI_Abort(MPI_COMM_WORLD, exit.code);
  MPI_Finalize();
  return exit.code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"align-worker: trains and runs diffusion models for the alignment service"};
  // Without a subcommand: serve a coordinator's queue (mpirun -np N align-worker --coordinator ADDR).
  app.require_subcommand(0, 1);
  align::control::ServeOptions serve;
  app.add_option("--coordinator", serve.coordinator, "Coordinator address, host:port: serve its job queue")
      ->envname("ALIGN_COORDINATOR");
  app.add_option("--token-file", serve.token_file, "Token file; the first worker:<token> (or bare) line is sent")
      ->envname("ALIGN_TOKEN_FILE");
  app.add_option("--tls-ca", serve.tls_ca, "PEM CA certificates: connect to the coordinator with TLS");
  app.add_option("--group-name", serve.group_name, "Name of this worker group (default: $SLURM_JOB_NAME or host-pid)");
  app.add_option("--max-jobs", serve.max_jobs, "Exit after this many jobs ended (default: serve forever)");
  std::string serve_device = "auto";
  app.add_option("--device", serve_device, "auto (CUDA when visible), cpu or cuda: where this group's jobs run")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));

  align::tools::VerifyModelOptions verify;
  CLI::App* verify_cmd = app.add_subcommand(
      "verify-model", "Run a diffusers model folder on a reference io.safetensors and report the error");
  verify_cmd->add_option("--model", verify.model_dir, "Model folder (diffusers layout: unet/ ...)")
      ->required()->check(CLI::ExistingDirectory);
  verify_cmd->add_option("--io", verify.io_path, "io.safetensors with inputs and reference outputs")
      ->required()->check(CLI::ExistingFile);
  verify_cmd->add_option("--device", verify.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  verify_cmd->add_option("--dtype", verify.dtype, "fp32 or bf16")->check(CLI::IsMember({"fp32", "bf16"}));
  verify_cmd->add_flag("--gradient-checkpointing", verify.gradient_checkpointing,
                       "Recompute activations in backward (checks the checkpointed path)");
  verify_cmd->add_flag("--channels-last", verify.channels_last,
                       "NHWC activations and convolution weights (checks the channels-last path)");
  verify_cmd->add_flag("--fused-geglu", verify.fused_geglu,
                       "The feed-forwards' GEGLU as one op (checks the fused path)");
  verify_cmd->add_option("--lora", verify.lora_path,
                         "LoRA adapter (folder or .safetensors) on the UNet: compares out (adapter on), out_base "
                         "(off) and the adapter's gradients with the base frozen")
      ->check(CLI::ExistingPath);
  verify_cmd->add_option("--lora-alpha", verify.lora_alpha,
                         "The adapter's alpha when its file does not state it (default: the file's, else the rank)")
      ->check(CLI::PositiveNumber);

  align::tools::TrainOptions train;
  CLI::App* train_cmd = app.add_subcommand(
      "train", "Run one training job on this MPI world without a coordinator (mpirun -np N align-worker train ...)");
  train_cmd->add_option("--spec", train.spec_path, "Job spec (YAML)")->required()->check(CLI::ExistingFile);

  align::tools::PrepareOptions prepare;
  CLI::App* prepare_cmd = app.add_subcommand(
      "prepare", "Run one prepare job (images + captions -> prepared dataset) on this MPI world without a coordinator");
  prepare_cmd->add_option("--spec", prepare.spec_path, "Job spec (YAML, type: prepare)")
      ->required()->check(CLI::ExistingFile);

  align::sampling::VerifySamplerOptions verify_sampler;
  CLI::App* verify_sampler_cmd = app.add_subcommand(
      "verify-sampler", "Replay a sampler reference case (scheduler_config.json + io.safetensors) and report the error");
  verify_sampler_cmd->add_option("--case", verify_sampler.case_dir, "Case folder")
      ->required()->check(CLI::ExistingDirectory);
  verify_sampler_cmd->add_option("--steps", verify_sampler.steps, "Replay only the first N steps (default: all)")
      ->check(CLI::PositiveNumber);

  align::sampling::VerifySamplingOptions verify_sampling;
  CLI::App* verify_sampling_cmd = app.add_subcommand(
      "verify-sampling",
      "Run the denoising loop (unet/ + scheduler/) on a reference run's conditioning and noise and report the error");
  verify_sampling_cmd->add_option("--model", verify_sampling.model_dir, "Folder with unet/ and scheduler/")
      ->required()->check(CLI::ExistingDirectory);
  verify_sampling_cmd->add_option("--io", verify_sampling.io_path,
                                  "io.safetensors of the reference run (pipeline.json beside it may give steps/guidance)")
      ->required()->check(CLI::ExistingFile);
  verify_sampling_cmd->add_option("--device", verify_sampling.device, "cpu | cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  // CLIP preprocessing and the reward models.
  std::string verify_preprocess_dir;
  CLI::App* verify_preprocess_cmd = app.add_subcommand(
      "verify-preprocess",
      "Run CLIP image preprocessing on a reference folder (preprocessor_config.json + io.safetensors) and report the error");
  verify_preprocess_cmd->add_option("--dir", verify_preprocess_dir, "Reference folder")
      ->required()->check(CLI::ExistingDirectory);
  align::reward::OpenClipConvertOptions convert_openclip;
  CLI::App* convert_openclip_cmd = app.add_subcommand(
      "convert-openclip", "Convert an OpenCLIP state dict (e.g. HPSv2) into a transformers CLIPModel folder");
  convert_openclip_cmd->add_option("--in", convert_openclip.in_path, "open_clip state dict (.safetensors)")
      ->required()->check(CLI::ExistingFile);
  convert_openclip_cmd->add_option("--config", convert_openclip.config_path,
                                   "open_clip model config JSON (e.g. model_configs/ViT-H-14.json)")
      ->required()->check(CLI::ExistingFile);
  convert_openclip_cmd->add_option("--out", convert_openclip.out_dir, "Output folder")->required();
  convert_openclip_cmd->add_option("--tokenizer", convert_openclip.tokenizer_dir,
                                   "Folder with vocab.json + merges.txt to copy into the output")
      ->check(CLI::ExistingDirectory);

  CLI11_PARSE(app, argc, argv);
  if (verify_preprocess_cmd->parsed()) {
    return align::imaging::RunVerifyPreprocess(verify_preprocess_dir, std::cout, std::cerr);
  }
  if (convert_openclip_cmd->parsed()) {
    const absl::Status converted = align::reward::ConvertOpenClip(convert_openclip);
    if (!converted.ok()) {
      std::cerr << "convert-openclip: " << converted.message() << "\n";
      return 2;
    }
    return 0;
  }
  if (verify_cmd->parsed()) return align::tools::RunVerifyModel(verify, std::cout, std::cerr);
  if (verify_sampler_cmd->parsed()) return align::sampling::RunVerifySampler(verify_sampler, std::cout, std::cerr);
  if (verify_sampling_cmd->parsed()) return align::sampling::RunVerifySampling(verify_sampling, std::cout, std::cerr);
  if (prepare_cmd->parsed()) {
    return WithMpi(argc, argv, [&] { return RankExit{align::tools::RunPrepare(prepare, std::cout, std::cerr)}; });
  }
  if (train_cmd->parsed()) {
    return WithMpi(argc, argv, [&] {
      const align::tools::TrainExit exit = align::tools::RunTrain(train, std::cout, std::cerr);
      return RankExit{exit.code, exit.failed_on_every_rank};
    });
  }
  if (serve.coordinator.empty()) {
    std::cerr << "align-worker: give --coordinator ADDR to serve a coordinator's queue, or a subcommand\n"
              << app.help();
    return 2;
  }
  return WithMpi(argc, argv, [&] {
    // Every rank sees the same flag; one without a CUDA device where --device cuda asks for one
    // ends the world (its peers may already wait in the group's first collective).
    absl::StatusOr<align::runner::DeviceChoice> device = align::runner::ChooseWorkerDevice(serve_device);
    if (!device.ok()) {
      std::cerr << "align-worker: " << device.status().message() << "\n";
      return RankExit{2};
    }
    absl::StatusOr<align::control::WorkerJobKinds> kinds = align::runner::BuiltInWorkerJobKinds(*device);
    if (!kinds.ok()) {
      std::cerr << "align-worker: " << kinds.status().message() << "\n";
      return RankExit{2};
    }
    serve.device = device->name();
    return RankExit{align::control::RunServe(serve, *kinds, std::cout, std::cerr)};
  });
}
