#pragma once
// Recognises an image container by its leading bytes, never by a file name:
// WebDataset members are called `jpg_0` whatever they hold.

#include <string>

#include "absl/strings/string_view.h"

namespace align::imaging {

enum class ImageFormat { kJpeg, kPng, kUnknown };

ImageFormat SniffImageFormat(absl::string_view bytes);

// For "unsupported image format" messages: "GIF", "WebP", "BMP", "TIFF", "AVIF/HEIF",
// "empty" or "unknown".
std::string DescribeUnsupportedFormat(absl::string_view bytes);

}  // namespace align::imaging
