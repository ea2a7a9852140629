#pragma once
// alignctl make-synthetic: a prepared dataset with a learnable preference,
// shaped for a model (common/dataset/synthetic.h makes the pairs).

#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "coordinator/alignctl/subcommand.h"

namespace align::alignctl {

struct MakeSyntheticOptions {
  std::string model_dir;
  std::string out_dir;
  int64_t pairs = 0;
  int64_t heldout = 0;
  uint64_t seed = 0;
  std::string latent_size;  // "H" or "HxW"; empty: the UNet's sample_size
  int64_t tokens = 77;
  int64_t pairs_per_shard = 256;
  std::string dtype = "f32";  // f32 | f16 | bf16
  bool overwrite = false;
};

// The pair shape for the model in `model_dir` (diffusers layout): latent
// channels, context and pooled widths from unet/config.json; latent_height /
// latent_width 0 mean the config's sample_size.
absl::StatusOr<data::PairShape> SyntheticShapeForModel(const std::string& model_dir, int64_t latent_height,
                                                       int64_t latent_width, int64_t tokens);

// "64" -> (64, 64); "64x96" -> (64, 96).
absl::StatusOr<std::pair<int64_t, int64_t>> ParseLatentSize(const std::string& text);

// Writes the dataset and reports it on `out`; on error, a message on `err`.
// Returns the exit status: 0, or kExitUsage.
int RunMakeSynthetic(const MakeSyntheticOptions& options, std::ostream& out, std::ostream& err);

Subcommand AddMakeSyntheticCommand(CLI::App& app);

}  // namespace align::alignctl
