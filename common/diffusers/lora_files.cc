#include "common/diffusers/lora_files.h"

#include <filesystem>
#include <memory>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/safetensors/reader.h"
#include "common/status_macros.h"

namespace align::diffusers {

namespace fs = std::filesystem;

absl::StatusOr<LoraFiles> FindLoraFiles(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat(path, " is neither a LoRA weights file nor a folder holding one"));
    }
    return LoraFiles{path, ""};
  }
  const fs::path dir(path);
  if (fs::exists(dir / kLoraWeightsFile, ec)) return LoraFiles{(dir / kLoraWeightsFile).string(), ""};
  if (fs::exists(dir / kPeftWeightsFile, ec)) {
    LoraFiles files{(dir / kPeftWeightsFile).string(), ""};
    if (fs::exists(dir / kPeftConfigFile, ec)) files.peft_config = (dir / kPeftConfigFile).string();
    return files;
  }
  return absl::NotFoundError(
      absl::StrCat(path, " holds neither ", kLoraWeightsFile, " (diffusers) nor ", kPeftWeightsFile, " (peft)"));
}

absl::Status CheckLoraFiles(const std::string& path) {
  ASSIGN_OR_RETURN(LoraFiles files, FindLoraFiles(path));
  absl::StatusOr<std::unique_ptr<safetensors::File>> opened = safetensors::File::Open(files.weights);
  if (!opened.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(files.weights, " is not a readable safetensors file: ",
                                                   opened.status().message()));
  }
  if ((*opened)->tensors().empty()) return absl::InvalidArgumentError(absl::StrCat(files.weights, " holds no tensors"));
  return absl::OkStatus();
}

}  // namespace align::diffusers
