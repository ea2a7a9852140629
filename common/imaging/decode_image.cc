#include "common/imaging/decode_image.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/imaging/image_format.h"

namespace align::imaging {

absl::StatusOr<RgbImage> DecodeImage(absl::string_view bytes, const std::string& what,
                                     const DecodeLimits& limits) {
  switch (SniffImageFormat(bytes)) {
    case ImageFormat::kJpeg:
      return DecodeJpeg(bytes, what, limits);
    case ImageFormat::kPng:
      return DecodePng(bytes, what, limits);
    case ImageFormat::kUnknown:
      break;
  }
  return absl::InvalidArgumentError(absl::StrCat(what, ": unsupported image format (",
                                                 DescribeUnsupportedFormat(bytes), "; expected JPEG or PNG)"));
}

}  // namespace align::imaging
