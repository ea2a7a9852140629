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

namespace {

// tiny-sd15's UNet with cross_attention_dim 32: the first 32 input columns of
// each cross-attention key/value projection.
absl::Status WriteNarrowSd15UNet(const std::string& golden_dir, const std::string& dir) {
  constexpr int64_t kFrom = 48, kTo = 32;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::string source = golden_dir + "/tiny-sd15/unet";
  ASSIGN_OR_RETURN(const std::string config_text, ReadFileToString(source + "/config.json"));
  nlohmann::json config = nlohmann::json::parse(config_text);
  if (config.value("cross_attention_dim", 0) != kFrom) {
    return absl::FailedPreconditionError("tiny-sd15's cross_attention_dim is not 48");
  }
  config["cross_attention_dim"] = kTo;
  RETURN_IF_ERROR(WriteFileAtomically(dir + "/config.json", config.dump(2)));
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file,
                   safetensors::File::Open(source + "/diffusion_pytorch_model.safetensors"));
  safetensors::Writer out;
  for (const safetensors::TensorInfo& info : file->tensors()) {
    ASSIGN_OR_RETURN(const safetensors::TensorView view, file->Get(info.name));
    const bool cross = info.name.find("attn2.to_k.weight") != std::string::npos ||
                       info.name.find("attn2.to_v.weight") != std::string::npos;
    if (!cross) {
      RETURN_IF_ERROR(out.Add(info.name, info.dtype, info.shape, view.data, info.nbytes()));
      continue;
    }
    if (info.shape.size() != 2 || info.shape[1] != kFrom) {
      return absl::FailedPreconditionError(absl::StrCat(info.name, " is not [out, 48]"));
    }
    const int64_t rows = info.shape[0];
    std::vector<float> w(static_cast<size_t>(rows * kFrom)), narrow(static_cast<size_t>(rows * kTo));
    RETURN_IF_ERROR(data::ConvertToFloat(info.dtype, view.data, rows * kFrom, w.data()));
    for (int64_t r = 0; r < rows; ++r) {
      std::copy(w.begin() + r * kFrom, w.begin() + r * kFrom + kTo, narrow.begin() + r * kTo);
    }
    RETURN_IF_ERROR(out.Add(info.name, safetensors::DType::kF32, {rows, kTo}, narrow.data(),
                            narrow.size() * sizeof(float)));
  }
  return out.WriteFile(dir + "/diffusion_pytorch_model.safetensors");
}

}  // namespace

absl::Status WriteTinySd15Model(const std::string& golden_dir, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const std::pair<const char*, const char*> links[] = {{"tiny-sdxl/scheduler", "scheduler"},
                                                       {"tiny-vae/vae", "vae"},
                                                       {"tiny-clip/text_encoder", "text_encoder"},
                                                       {"tokenizer/tokenizer", "tokenizer"}};
  for (const auto& [target, name] : links) {
    fs::create_directory_symlink(fs::absolute(fs::path(golden_dir) / target), fs::path(dir) / name, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot link ", dir, "/", name, ": ", ec.message()));
  }
  return WriteNarrowSd15UNet(golden_dir, dir + "/unet");
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
