#include "common/imaging/image_format.h"

#include "absl/strings/match.h"

namespace align::imaging {

ImageFormat SniffImageFormat(absl::string_view bytes) {
  if (bytes.size() >= 3 && static_cast<unsigned char>(bytes[0]) == 0xFF &&
      static_cast<unsigned char>(bytes[1]) == 0xD8 && static_cast<unsigned char>(bytes[2]) == 0xFF) {
    return ImageFormat::kJpeg;
  }
  if (absl::StartsWith(bytes, absl::string_view("\x89PNG\r\n\x1a\n", 8))) return ImageFormat::kPng;
  return ImageFormat::kUnknown;
}

std::string DescribeUnsupportedFormat(absl::string_view bytes) {
  if (bytes.empty()) return "empty";
  if (absl::StartsWith(bytes, "GIF87a") || absl::StartsWith(bytes, "GIF89a")) return "GIF";
  if (bytes.size() >= 12 && absl::StartsWith(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP") return "WebP";
  if (absl::StartsWith(bytes, "BM")) return "BMP";
  if (absl::StartsWith(bytes, "II*") || absl::StartsWith(bytes, "MM\0*")) return "TIFF";
  if (bytes.size() >= 12 && bytes.substr(4, 4) == "ftyp") return "AVIF/HEIF";
  return "unknown";
}

}  // namespace align::imaging
