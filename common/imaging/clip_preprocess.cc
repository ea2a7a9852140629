#include "common/imaging/clip_preprocess.h"

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/config_reader.h"
#include "common/file_util.h"
#include "common/imaging/transforms.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::imaging {
namespace {

// PIL's resampling enum as transformers stores it.
constexpr int kPilBilinear = 2;
constexpr int kPilBicubic = 3;

// An int, or an object {height, width} (crop_size), into `height`, `width`.
void ReadHeightWidth(ConfigReader& r, const std::string& key, int& height, int& width) {
  const nlohmann::json* v = r.Value(key);
  if (v == nullptr) return;
  if (v->is_number_integer()) {
    height = width = v->get<int>();
  } else if (v->is_object() && v->size() == 2 && v->contains("height") && v->contains("width") &&
             (*v)["height"].is_number_integer() && (*v)["width"].is_number_integer()) {
    height = (*v)["height"].get<int>();
    width = (*v)["width"].get<int>();
  } else {
    r.Fail(absl::StrCat(key, " ", v->dump(), " is not supported (supported: an int or {\"height\", \"width\"})"));
  }
}

void ReadTriple(ConfigReader& r, const std::string& key, std::array<float, 3>& out) {
  const nlohmann::json* v = r.Value(key);
  if (v == nullptr) return;
  if (v->is_number()) {
    out.fill(v->get<float>());
    return;
  }
  if (!v->is_array() || v->size() != 3 || !(*v)[0].is_number() || !(*v)[1].is_number() || !(*v)[2].is_number()) {
    r.Fail(absl::StrCat(key, " must be a number or a list of 3 numbers, got ", v->dump()));
    return;
  }
  for (int c = 0; c < 3; ++c) out[c] = (*v)[c].get<float>();
}

}  // namespace

absl::StatusOr<ClipImageProcessorConfig> ParseClipImageProcessorConfig(const std::string& json_text,
                                                                        const std::string& what) {
  ASSIGN_OR_RETURN(ConfigReader r, ConfigReader::Parse(json_text, what));
  ClipImageProcessorConfig c;
  r.ExpectOneOf("image_processor_type", {"CLIPImageProcessor", "CLIPImageProcessorFast"});
  r.ExpectOneOf("feature_extractor_type", {"CLIPFeatureExtractor"});
  // Which Python class bundles this with a tokenizer: no effect on pixels.
  r.Ignore("processor_class");
  c.do_resize = r.Bool("do_resize", c.do_resize);
  if (const nlohmann::json* size = r.Value("size"); size != nullptr) {
    if (size->is_number_integer()) {
      c.shortest_edge = size->get<int>();  // CLIPFeatureExtractor: an int is the shortest edge
    } else if (size->is_object() && size->size() == 1 && size->contains("shortest_edge") &&
               (*size)["shortest_edge"].is_number_integer()) {
      c.shortest_edge = (*size)["shortest_edge"].get<int>();
    } else if (size->is_object() && size->size() == 2 && size->contains("height") && size->contains("width") &&
               (*size)["height"].is_number_integer() && (*size)["width"].is_number_integer()) {
      c.resize_height = (*size)["height"].get<int>();
      c.resize_width = (*size)["width"].get<int>();
    } else {
      r.Fail(absl::StrCat("size ", size->dump(),
                          " is not supported (supported: an int, {\"shortest_edge\"}, {\"height\", \"width\"})"));
    }
  }
  const int64_t resample = r.Int("resample", kPilBicubic);
  if (resample == kPilBicubic) {
    c.resample = ResampleFilter::kBicubic;
  } else if (resample == kPilBilinear) {
    c.resample = ResampleFilter::kBilinear;
  } else {
    r.Fail(absl::StrCat("resample ", resample, " is not supported (supported: 3 = bicubic, 2 = bilinear)"));
  }
  c.do_center_crop = r.Bool("do_center_crop", c.do_center_crop);
  ReadHeightWidth(r, "crop_size", c.crop_height, c.crop_width);
  c.do_rescale = r.Bool("do_rescale", c.do_rescale);
  c.rescale_factor = r.Double("rescale_factor", c.rescale_factor);
  c.do_normalize = r.Bool("do_normalize", c.do_normalize);
  ReadTriple(r, "image_mean", c.image_mean);
  ReadTriple(r, "image_std", c.image_std);
  // Decoded images are RGB already (decode_image.h converts every mode).
  r.ExpectOneOf("do_convert_rgb", {true, nullptr});
  // transformers 5's defaults for options this processor does not have.
  r.ExpectOneOf("do_pad", {false, nullptr});
  r.ExpectOneOf("default_to_square", {false, nullptr});
  RETURN_IF_ERROR(r.Finish());
  const bool exact = c.resize_height > 0 || c.resize_width > 0;
  if ((exact && (c.resize_height <= 0 || c.resize_width <= 0)) || (!exact && c.shortest_edge <= 0) ||
      c.crop_height <= 0 || c.crop_width <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": size and crop_size must be positive"));
  }
  for (int ch = 0; ch < 3; ++ch) {
    if (!(c.image_std[ch] != 0.0f)) return absl::InvalidArgumentError(absl::StrCat(what, ": image_std has a zero"));
  }
  return c;
}

absl::StatusOr<ClipImageProcessorConfig> LoadClipImageProcessorConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseClipImageProcessorConfig(text, path);
}

absl::StatusOr<ClipPixels> PreprocessClipImage(const RgbImage& image, const ClipImageProcessorConfig& config) {
  if (image.width <= 0 || image.height <= 0) return absl::InvalidArgumentError("empty image");
  RgbImage resized;
  const RgbImage* current = &image;
  if (config.do_resize) {
    if (config.resize_height > 0) {
      resized = Resize(image, config.resize_width, config.resize_height, config.resample);
    } else {
      const Size size = ShorterSideSize(image.width, image.height, config.shortest_edge);
      resized = Resize(image, size.width, size.height, config.resample);
    }
    current = &resized;
  }
  RgbImage cropped;
  if (config.do_center_crop) {
    if (config.crop_height > current->height || config.crop_width > current->width) {
      return absl::InvalidArgumentError(absl::StrCat("center crop ", config.crop_width, "x", config.crop_height,
                                                     " is larger than the ", current->width, "x", current->height,
                                                     " image"));
    }
    const bool floor = config.crop_rounding == CenterCropRounding::kFloor;
    const int top = floor ? (current->height - config.crop_height) / 2
                          : CenterCropOffset(current->height, config.crop_height);
    const int left = floor ? (current->width - config.crop_width) / 2
                           : CenterCropOffset(current->width, config.crop_width);
    cropped = Crop(*current, top, left, config.crop_height, config.crop_width);
    current = &cropped;
  }
  ClipPixels out;
  out.height = current->height;
  out.width = current->width;
  const size_t plane = static_cast<size_t>(out.height) * out.width;
  out.chw.resize(3 * plane);
  // transformers 4: rescale in float64 then cast to float32; normalise in float32.
  const double scale = config.do_rescale ? config.rescale_factor : 1.0;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* row = current->Row(y);
    for (int x = 0; x < out.width; ++x) {
      for (int ch = 0; ch < 3; ++ch) {
        float v = static_cast<float>(static_cast<double>(row[3 * x + ch]) * scale);
        if (config.do_normalize) v = (v - config.image_mean[ch]) / config.image_std[ch];
        out.chw[ch * plane + static_cast<size_t>(y) * out.width + x] = v;
      }
    }
  }
  return out;
}

}  // namespace align::imaging
