#pragma once
// `align-worker verify-sampling --model DIR --io FILE`: runs the denoising
// loop (DenoisingLoop: DIR/unet + DIR/scheduler) on the conditioning and
// initial noise of a reference run laid out like
// tests/data/golden/tiny-sdxl-sampling/io.safetensors, and reports how far the
// latents after every step are from the reference's. The step count and
// guidance scale come from the io file (num_inference_steps, guidance_scale),
// else from pipeline.json beside it. Plain types only: the command line side
// does not include LibTorch.

#include <ostream>
#include <string>

namespace align::sampling {

struct VerifySamplingOptions {
  std::string model_dir;  // holds unet/ and scheduler/ (a whole diffusers folder will do)
  std::string io_path;
  std::string device = "cpu";  // cpu | cuda
};

// Prints one JSON line of max relative errors to `out`; returns the process
// exit code: 0 when the timesteps are identical and every latents error is
// within the bound (verify-model's fp32 bound on UNet outputs, 1e-4), 1 when
// not, 2 on bad input.
int RunVerifySampling(const VerifySamplingOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::sampling
