#pragma once
// `align-worker verify-model`: runs a model folder's components on an
// inputs/outputs file laid out like the golden fixtures and reports how far
// the results are from the reference's. Plain types only: the command line
// side does not include LibTorch.

#include <ostream>
#include <string>

namespace align::tools {

struct VerifyModelOptions {
  std::string model_dir;  // diffusers layout: unet/ (+ vae/, text_encoder*/ ...)
  std::string io_path;    // io.safetensors with inputs and reference outputs
  std::string device = "cpu";   // cpu | cuda
  std::string dtype = "fp32";   // fp32 | bf16
  bool gradient_checkpointing = false;
  bool channels_last = false;  // NHWC activations and convolution weights
  bool fused_geglu = false;    // the feed-forwards' GEGLU as one op (worker/models/fused_geglu.h)
  // A LoRA adapter on the UNet (worker/models/lora_io.h): the io file then
  // holds `out` with it, `out_base` without it and grad.<layer>.lora_A/B.
  std::string lora_path;
  double lora_alpha = 0;  // > 0: overrides the file's alpha
};

// Prints one JSON line to `out`; returns the process exit code: 0 when every
// compared output is within tolerance, 1 when one is not, 2 on bad input.
int RunVerifyModel(const VerifyModelOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::tools
