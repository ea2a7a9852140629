#pragma once
// Decodes JPEG or PNG bytes to RGB8 the way the reference pipelines'
// `PIL.Image.open(...).convert("RGB")` sees them. Never crashes or exits on bad
// input: corrupt, truncated, unsupported or oversized images are errors that
// name `what` (the file or archive member) and say why.

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/imaging/rgb_image.h"

namespace align::imaging {

struct DecodeLimits {
  // PIL's DecompressionBombError threshold (2 * Image.MAX_IMAGE_PIXELS).
  int64_t max_pixels = 178956970;
};

// InvalidArgument for unsupported formats and sizes, DataLoss for corrupt or
// truncated data; messages start with `what`.
absl::StatusOr<RgbImage> DecodeImage(absl::string_view bytes, const std::string& what,
                                     const DecodeLimits& limits = {});

// The decoders behind DecodeImage, for callers that already know the format.
absl::StatusOr<RgbImage> DecodeJpeg(absl::string_view bytes, const std::string& what,
                                    const DecodeLimits& limits = {});
absl::StatusOr<RgbImage> DecodePng(absl::string_view bytes, const std::string& what,
                                   const DecodeLimits& limits = {});

}  // namespace align::imaging
