#include "tests/support/tiny_models.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/file_util.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::testing {

namespace fs = std::filesystem;

absl::Status WriteWideTextEncoder2(const std::string& golden_dir, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  const std::string source = golden_dir + "/tiny-clip/text_encoder_2";
  ASSIGN_OR_RETURN(const std::string config_text, ReadFileToString(source + "/config.json"));
  nlohmann::json config = nlohmann::json::parse(config_text);
  config["projection_dim"] = 32;
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/config.json", config.dump(2)));
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file, safetensors::File::Open(source + "/model.safetensors"));
  safetensors::Writer out;
  for (const safetensors::TensorInfo& info : file->tensors()) {
    ASSIGN_OR_RETURN(const safetensors::TensorView view, file->Get(info.name));
    if (info.name != "text_projection.weight") {
      RETURN_IF_ERROR(out.Add(info.name, info.dtype, info.shape, view.data, info.nbytes()));
      continue;
    }
    if (info.shape != std::vector<int64_t>{24, 32}) {
      return absl::FailedPreconditionError("tiny-clip's text_projection.weight is not [24, 32]");
    }
    std::vector<float> w(24 * 32), wide(32 * 32);
    RETURN_IF_ERROR(data::ConvertToFloat(info.dtype, view.data, 24 * 32, w.data()));
    std::copy(w.begin(), w.end(), wide.begin());
    for (int i = 24 * 32; i < 32 * 32; ++i) wide[i] = w[i % (24 * 32)] * 0.5f;
    RETURN_IF_ERROR(out.Add(info.name, safetensors::DType::kF32, {32, 32}, wide.data(), wide.size() * sizeof(float)));
  }
  return out.WriteFile(dir + "/model.safetensors");
}

absl::Status WriteTinySdxlModel(const std::string& golden_dir, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::pair<const char*, const char*> links[] = {
      {"tiny-sdxl/unet", "unet"},          {"tiny-sdxl/scheduler", "scheduler"},  {"tiny-vae/vae", "vae"},
      {"tiny-clip/text_encoder", "text_encoder"}, {"tokenizer/tokenizer", "tokenizer"},
      {"tokenizer/tokenizer", "tokenizer_2"}};
  for (const auto& [target, name] : links) {
    fs::create_directory_symlink(fs::absolute(fs::path(golden_dir) / target), fs::path(dir) / name, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot link ", dir, "/", name, ": ", ec.message()));
  }
  return WriteWideTextEncoder2(golden_dir, dir + "/text_encoder_2");
}

absl::Status WriteTinyClipRewardModel(const std::string& golden_dir, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::pair<const char*, const char*> links[] = {
      {"tiny-clip-vision/clip/config.json", "config.json"},
      {"tiny-clip-vision/clip/model.safetensors", "model.safetensors"},
      {"clip-preprocess/preprocessor_config.json", "preprocessor_config.json"},
      {"tokenizer/tokenizer", "tokenizer"}};
  for (const auto& [target, name] : links) {
    const fs::path from = fs::absolute(fs::path(golden_dir) / target);
    if (fs::is_directory(from, ec)) {
      fs::create_directory_symlink(from, fs::path(dir) / name, ec);
    } else {
      fs::create_symlink(from, fs::path(dir) / name, ec);
    }
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot link ", dir, "/", name, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace align::testing
