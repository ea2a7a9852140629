#pragma once
// A model folder in diffusers' layout, as DiffusionPipeline.save_pretrained
// writes it for SDXL:
//   unet/            config.json + diffusion_pytorch_model[.fp16].safetensors
//   vae/             config.json + diffusion_pytorch_model[.fp16].safetensors
//   text_encoder/    config.json + model[.fp16].safetensors (transformers' names)
//   text_encoder_2/  config.json + model[.fp16].safetensors
//   tokenizer/       vocab.json + merges.txt
//   tokenizer_2/     vocab.json + merges.txt
//   scheduler/       scheduler_config.json
//   image_encoder/   config.json + model[.fp16].safetensors (IP-Adapter pipelines)
//   model_index.json the pipeline's class, components and options (e.g.
//                    force_zeros_for_empty_prompt); optional here
// Weights above the shard size are shards plus an index named for the base
// (common/safetensors/sharded_weights.h). Every path into such a folder is
// made here, so the layout is spelled in one place. Free of LibTorch.

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace align::diffusers {

enum class Component {
  kUNet,
  kVae,
  kTextEncoder,
  kTextEncoder2,
  kTokenizer,
  kTokenizer2,
  kScheduler,
  kImageEncoder,
};

// The component's sub-folder: "unet", "vae", "text_encoder", ...
absl::string_view ComponentName(Component component);

// File names inside a component folder.
inline constexpr absl::string_view kConfigFile = "config.json";
inline constexpr absl::string_view kSchedulerConfigFile = "scheduler_config.json";
inline constexpr absl::string_view kVocabFile = "vocab.json";
inline constexpr absl::string_view kMergesFile = "merges.txt";
// In the root: the pipeline's class, components and options.
inline constexpr absl::string_view kModelIndexFile = "model_index.json";

// Weights base names: diffusers' models (unet/, vae/) and transformers' (the
// text and image encoders).
inline constexpr char kDiffusersWeightsBase[] = "diffusion_pytorch_model";
inline constexpr char kTransformersWeightsBase[] = "model";

// "<base>.safetensors"; with a variant "<base>.<variant>.safetensors"
// (diffusers' _add_variant: e.g. diffusion_pytorch_model.fp16.safetensors).
std::string WeightsFileName(absl::string_view base, absl::string_view variant = "");
// "<base>.safetensors.index.json"; with a variant
// "<base>.safetensors.index.<variant>.json".
std::string WeightsIndexFileName(absl::string_view base, absl::string_view variant = "");

// The files a component folder must hold to be read, weights aside (one file
// or shards): config.json, scheduler_config.json, or vocab.json + merges.txt.
std::vector<absl::string_view> RequiredFiles(Component component);

// Paths inside one component folder (`dir` e.g. "<model>/unet").
std::string ConfigPath(const std::string& component_dir);            // dir/config.json
std::string SchedulerConfigPath(const std::string& scheduler_dir);   // dir/scheduler_config.json
std::string VocabPath(const std::string& tokenizer_dir);             // dir/vocab.json
std::string MergesPath(const std::string& tokenizer_dir);            // dir/merges.txt

class ModelFolder {
 public:
  explicit ModelFolder(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // root/<component>
  std::string Dir(Component component) const;
  std::string UNetConfigPath() const;       // root/unet/config.json
  std::string SchedulerConfigPath() const;  // root/scheduler/scheduler_config.json
  std::string ModelIndexPath() const;       // root/model_index.json

  // OK when the root is a directory holding every RequiredFiles() of
  // `components`; otherwise NotFound naming the root or the first missing
  // file as "<component>/<file>".
  absl::Status CheckFiles(std::initializer_list<Component> components) const;

 private:
  std::string root_;
};

}  // namespace align::diffusers
