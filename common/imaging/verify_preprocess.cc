#include "common/imaging/verify_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/imaging/clip_preprocess.h"
#include "common/safetensors/reader.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::imaging {
namespace {

absl::StatusOr<RgbImage> ReadImage(const safetensors::File& file, const std::string& name) {
  ASSIGN_OR_RETURN(safetensors::TensorView view, file.Get(name));
  const auto& shape = view.info->shape;
  if (view.info->dtype != safetensors::DType::kU8 || shape.size() != 3 || shape[2] != 3) {
    return absl::InvalidArgumentError(absl::StrCat(name, " must be uint8 [H, W, 3]"));
  }
  RgbImage image(static_cast<int>(shape[1]), static_cast<int>(shape[0]));
  std::memcpy(image.pixels.data(), view.data, image.pixels.size());
  return image;
}

absl::StatusOr<std::vector<float>> ReadFloats(const safetensors::File& file, const std::string& name) {
  ASSIGN_OR_RETURN(safetensors::TensorView view, file.Get(name));
  if (view.info->dtype != safetensors::DType::kF32) return absl::InvalidArgumentError(absl::StrCat(name, " must be F32"));
  std::vector<float> values(static_cast<size_t>(view.info->numel()));
  std::memcpy(values.data(), view.data, values.size() * sizeof(float));
  return values;
}

// {"pixel_values_pil_<i>": max |a - b|} over every image_<i> of the file.
absl::StatusOr<nlohmann::json> Compare(const std::string& dir) {
  const std::filesystem::path root(dir);
  ASSIGN_OR_RETURN(ClipImageProcessorConfig config,
                   LoadClipImageProcessorConfig((root / "preprocessor_config.json").string()));
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file,
                   safetensors::File::Open((root / "io.safetensors").string()));
  nlohmann::json errors = nlohmann::json::object();
  for (int i = 0; file->Contains(absl::StrCat("image_", i)); ++i) {
    const std::string expected_name = absl::StrCat("pixel_values_pil_", i);
    ASSIGN_OR_RETURN(RgbImage image, ReadImage(*file, absl::StrCat("image_", i)));
    ASSIGN_OR_RETURN(std::vector<float> expected, ReadFloats(*file, expected_name));
    ASSIGN_OR_RETURN(ClipPixels actual, PreprocessClipImage(image, config));
    if (actual.chw.size() != expected.size()) {
      return absl::InvalidArgumentError(absl::StrCat(expected_name, " has ", expected.size(), " values; ",
                                                     "preprocessing gave 3x", actual.height, "x", actual.width));
    }
    double worst = 0;
    for (size_t k = 0; k < expected.size(); ++k) {
      const double diff = std::fabs(static_cast<double>(actual.chw[k]) - expected[k]);
      worst = std::isnan(diff) ? diff : std::max(worst, diff);
      if (std::isnan(worst)) break;
    }
    errors[expected_name] = worst;
  }
  if (errors.empty()) return absl::InvalidArgumentError(absl::StrCat(dir, "/io.safetensors has no image_0"));
  return errors;
}

}  // namespace

int RunVerifyPreprocess(const std::string& dir, std::ostream& out, std::ostream& err) {
  absl::StatusOr<nlohmann::json> errors = Compare(dir);
  if (!errors.ok()) {
    err << "verify-preprocess: " << errors.status().message() << "\n";
    return 2;
  }
  bool ok = true;
  for (const auto& [name, value] : errors->items()) {
    if (!(value.get<double>() <= kPreprocessTolerance)) ok = false;
  }
  nlohmann::json line = {{"max_abs_err", *errors}, {"tolerance", kPreprocessTolerance}, {"ok", ok}};
  out << line.dump() << std::endl;
  return ok ? 0 : 1;
}

}  // namespace align::imaging
