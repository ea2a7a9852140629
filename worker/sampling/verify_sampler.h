#pragma once
// `align-worker verify-sampler --case DIR`: replays a sampler reference case
// (DIR/scheduler_config.json and DIR/io.safetensors, laid out like
// tests/data/golden/samplers/*) and reports how far every step is from the
// reference's. Plain types only: the command line side does not include LibTorch.

#include <cstdint>
#include <ostream>
#include <string>

namespace align::sampling {

struct VerifySamplerOptions {
  std::string case_dir;
  int64_t steps = 0;  // replay only the first `steps` steps; 0: all of the case's
};

// Prints one JSON line of max relative errors to `out`; returns the process
// exit code: 0 when every one is within 1e-5, 1 when one is not, 2 on bad input.
int RunVerifySampler(const VerifySamplerOptions& options, std::ostream& out, std::ostream& err);

}  // namespace align::sampling
