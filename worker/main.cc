// align-worker: the per-GPU process. Subcommands run single tasks locally.

#include <iostream>

#include "CLI/CLI.hpp"
#include "worker/tools/verify_model.h"

int main(int argc, char** argv) {
  CLI::App app{"align-worker: trains and runs diffusion models for the alignment service"};
  app.require_subcommand(1);

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

  CLI11_PARSE(app, argc, argv);
  if (verify_cmd->parsed()) return align::tools::RunVerifyModel(verify, std::cout, std::cerr);
  return 2;
}
