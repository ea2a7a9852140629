#pragma once
// How the two images of a pair flip when a dataset draws horizontal flips
// (prepare's random_flip): both together, one draw per pair, as MaPO and
// diffusers' SDXL script flip the pair's concatenated images; or each image
// on its own, as Diffusion-DPO's train.py runs RandomHorizontalFlip on every
// image separately. A job spec's prepare.flip_images and a manifest's
// flip_images name the same choice.

#include <optional>

#include "absl/strings/string_view.h"

namespace align::data {

enum class FlipImages { kTogether, kEach };

inline absl::string_view FlipImagesName(FlipImages flip) { return flip == FlipImages::kEach ? "each" : "together"; }

inline std::optional<FlipImages> ParseFlipImages(absl::string_view name) {
  if (name == "together") return FlipImages::kTogether;
  if (name == "each") return FlipImages::kEach;
  return std::nullopt;
}

}  // namespace align::data
