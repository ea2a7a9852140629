#include "coordinator/alignctl/make_synthetic.h"

#include <filesystem>
#include <iostream>
#include <memory>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/dataset/synthetic.h"
#include "common/diffusers/dataset_fit.h"
#include "common/diffusers/model_folder.h"
#include "common/diffusers/unet_config.h"
#include "common/status_macros.h"
#include "common/diffusers/unet_config.h"

namespace align::alignctl {

absl::StatusOr<data::PairShape> SyntheticShapeForModel(const std::string& model_dir, int64_t latent_height,
                                                       int64_t latent_width, int64_t tokens) {
  const diffusers::ModelFolder model(model_dir);
  if (absl::Status files = model.CheckFiles({diffusers::Component::kUNet}); !files.ok()) {
    return absl::NotFoundError(absl::StrCat("model ", files.message(), " (expected a diffusers layout)"));
  }
  const std::string config_path = model.UNetConfigPath();
  ASSIGN_OR_RETURN(diffusers::UNetConfig config, diffusers::LoadUNetConfig(config_path));
  if (latent_height == 0 || latent_width == 0) {
    if (config.sample_size < 1) {
      return absl::InvalidArgumentError(absl::StrCat(config_path, " has no sample_size; give --latent-size"));
    }
    latent_height = latent_width = config.sample_size;
  }
  if (tokens < 1) return absl::InvalidArgumentError(absl::StrCat("--tokens must be >= 1, got ", tokens));
  return diffusers::PairShapeForUNet(config, latent_height, latent_width, tokens);
}

absl::StatusOr<std::pair<int64_t, int64_t>> ParseLatentSize(const std::string& text) {
  std::vector<std::string> parts = absl::StrSplit(text, 'x');
  int64_t h = 0, w = 0;
  const bool ok = (parts.size() == 1 && absl::SimpleAtoi(parts[0], &h) && (w = h, true)) ||
                  (parts.size() == 2 && absl::SimpleAtoi(parts[0], &h) && absl::SimpleAtoi(parts[1], &w));
  if (!ok || h < 1 || w < 1 || h > 4096 || w > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("--latent-size must be H or HxW with sides in [1, 4096], got \"", text, "\""));
  }
  return std::make_pair(h, w);
}

namespace {

absl::StatusOr<data::Manifest> MakeSynthetic(const MakeSyntheticOptions& options) {
  if (options.pairs < 1)
    return absl::InvalidArgumentError(absl::StrCat("--pairs must be >= 1, got ", options.pairs));
  if (options.heldout < 0) {
    return absl::InvalidArgumentError(absl::StrCat("--heldout must be >= 0, got ", options.heldout));
  }
  if (options.pairs_per_shard < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--pairs-per-shard must be >= 1, got ", options.pairs_per_shard));
  }
  if (options.out_dir.empty()) return absl::InvalidArgumentError("--out is empty");
  int64_t h = 0, w = 0;
  if (!options.latent_size.empty()) {
    ASSIGN_OR_RETURN(std::tie(h, w), ParseLatentSize(options.latent_size));
  }
  data::SyntheticOptions synthetic;
  ASSIGN_OR_RETURN(synthetic.shape, SyntheticShapeForModel(options.model_dir, h, w, options.tokens));
  synthetic.train_pairs = options.pairs;
  synthetic.heldout_pairs = options.heldout;
  synthetic.seed = options.seed;
  synthetic.pairs_per_shard = options.pairs_per_shard;
  synthetic.overwrite = options.overwrite;
  if (options.dtype == "f32") {
    synthetic.float_dtype = safetensors::DType::kF32;
  } else if (options.dtype == "f16") {
    synthetic.float_dtype = safetensors::DType::kF16;
  } else if (options.dtype == "bf16") {
    synthetic.float_dtype = safetensors::DType::kBF16;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--dtype must be f32, f16 or bf16, got ", options.dtype));
  }
  // The model's path would make the bytes depend on where the model lives.
  synthetic.source = {
      {"tool", "alignctl make-synthetic"},
      {"model", std::filesystem::path(options.model_dir).lexically_normal().filename().string()}};
  return data::WriteSyntheticDataset(options.out_dir, synthetic);
}

}  // namespace

int RunMakeSynthetic(const MakeSyntheticOptions& options, std::ostream& out, std::ostream& err) {
  absl::StatusOr<data::Manifest> manifest = MakeSynthetic(options);
  if (!manifest.ok()) {
    err << "alignctl make-synthetic: " << manifest.status().message();
    if (absl::IsAlreadyExists(manifest.status())) err << " (--overwrite)";
    err << "\n";
    return kExitUsage;
  }
  const data::PairShape& s = manifest->shape;
  for (const char* name : {"train", "heldout"}) {
    const data::SplitEntry& split = manifest->splits.at(name);
    out << "wrote " << split.pairs << " " << name << " pairs in " << split.shards.size() << " shard"
        << (split.shards.size() == 1 ? "" : "s") << "\n";
  }
  out << "shape: latents " << s.latent_channels << "x" << s.latent_height << "x" << s.latent_width
      << ", prompt_embeds " << s.tokens << "x" << s.context_dim << ", pooled " << s.pooled_dim << "\n";
  out << "dataset: " << options.out_dir << "\n";
  return 0;
}

Subcommand AddMakeSyntheticCommand(CLI::App& app) {
  auto options = std::make_shared<MakeSyntheticOptions>();
  CLI::App* cmd = app.add_subcommand(
      "make-synthetic", "Write a prepared dataset with a learnable preference, shaped for a model");
  cmd->add_option("--model", options->model_dir, "Model folder (diffusers layout; reads unet/config.json)")
      ->required();
  cmd->add_option("--pairs", options->pairs, "Training pairs")->required();
  cmd->add_option("--heldout", options->heldout, "Held-out pairs")->required();
  cmd->add_option("--out", options->out_dir, "Output directory (manifest.json + shards)")->required();
  cmd->add_option("--seed", options->seed, "Seed: the same seed writes the same bytes");
  cmd->add_option("--latent-size", options->latent_size, "Latent H or HxW (default: the UNet's sample_size)");
  cmd->add_option("--tokens", options->tokens, "Text tokens per prompt")->capture_default_str();
  cmd->add_option("--pairs-per-shard", options->pairs_per_shard, "Pairs per shard file")
      ->capture_default_str();
  cmd->add_option("--dtype", options->dtype, "Storage dtype of floating tensors: f32, f16, bf16")
      ->capture_default_str();
  cmd->add_flag("--overwrite", options->overwrite, "Replace a dataset already in --out");
  return {cmd, [options] { return RunMakeSynthetic(*options, std::cout, std::cerr); }};
}

}  // namespace align::alignctl
