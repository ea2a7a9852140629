#include "common/diffusers/model_folder.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace align::diffusers {
namespace {

namespace fs = std::filesystem;

constexpr absl::string_view kWeightsSuffix = ".safetensors";
constexpr absl::string_view kIndexSuffix = ".safetensors.index";

std::string Join(const std::string& dir, absl::string_view name) {
  return (fs::path(dir) / fs::path(std::string(name))).string();
}

}  // namespace

absl::string_view ComponentName(Component component) {
  switch (component) {
    case Component::kUNet:
      return "unet";
    case Component::kVae:
      return "vae";
    case Component::kTextEncoder:
      return "text_encoder";
    case Component::kTextEncoder2:
      return "text_encoder_2";
    case Component::kTokenizer:
      return "tokenizer";
    case Component::kTokenizer2:
      return "tokenizer_2";
    case Component::kScheduler:
      return "scheduler";
    case Component::kImageEncoder:
      return "image_encoder";
  }
  return "";
}

std::string WeightsFileName(absl::string_view base, absl::string_view variant) {
  if (variant.empty()) return absl::StrCat(base, kWeightsSuffix);
  return absl::StrCat(base, ".", variant, kWeightsSuffix);
}

std::string WeightsIndexFileName(absl::string_view base, absl::string_view variant) {
  if (variant.empty()) return absl::StrCat(base, kIndexSuffix, ".json");
  return absl::StrCat(base, kIndexSuffix, ".", variant, ".json");
}

std::vector<absl::string_view> RequiredFiles(Component component) {
  switch (component) {
    case Component::kTokenizer:
    case Component::kTokenizer2:
      return {kVocabFile, kMergesFile};
    case Component::kScheduler:
      return {kSchedulerConfigFile};
    case Component::kUNet:
    case Component::kVae:
    case Component::kTextEncoder:
    case Component::kTextEncoder2:
    case Component::kImageEncoder:
      return {kConfigFile};
  }
  return {};
}

std::string ConfigPath(const std::string& component_dir) { return Join(component_dir, kConfigFile); }
std::string SchedulerConfigPath(const std::string& scheduler_dir) {
  return Join(scheduler_dir, kSchedulerConfigFile);
}
std::string VocabPath(const std::string& tokenizer_dir) { return Join(tokenizer_dir, kVocabFile); }
std::string MergesPath(const std::string& tokenizer_dir) { return Join(tokenizer_dir, kMergesFile); }

std::string ModelFolder::Dir(Component component) const { return Join(root_, ComponentName(component)); }

std::string ModelFolder::UNetConfigPath() const { return ConfigPath(Dir(Component::kUNet)); }
std::string ModelFolder::ModelIndexPath() const { return Join(root_, kModelIndexFile); }

std::string ModelFolder::SchedulerConfigPath() const {
  return diffusers::SchedulerConfigPath(Dir(Component::kScheduler));
}

absl::Status ModelFolder::CheckFiles(std::initializer_list<Component> components) const {
  std::error_code ec;
  if (!fs::is_directory(root_, ec)) return absl::NotFoundError(absl::StrCat(root_, " is not a directory"));
  for (Component component : components) {
    for (absl::string_view file : RequiredFiles(component)) {
      if (!fs::is_regular_file(Join(Dir(component), file), ec)) {
        return absl::NotFoundError(absl::StrCat(root_, " has no ", ComponentName(component), "/", file));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace align::diffusers
