// PNG through libpng. libpng reports errors by longjmp-ing to the setjmp point
// (png_jmpbuf); a short read is turned into such an error by the read callback,
// so a truncated file is an error, never a crash or a partial image.
// Conversions follow PIL's `convert("RGB")`: palette expanded, alpha and tRNS
// dropped (not composited), gray replicated, 16-bit samples cut to their high
// byte, gamma chunks ignored.

#include <png.h>

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/imaging/decode_image.h"

namespace align::imaging {
namespace {

struct Source {
  const unsigned char* data;
  size_t size;
  size_t offset;
  char message[256];
};

void OnError(png_structp png, png_const_charp message) {
  auto* source = static_cast<Source*>(png_get_error_ptr(png));
  std::snprintf(source->message, sizeof(source->message), "%s", message);
  png_longjmp(png, 1);
}

// Harmless in practice (e.g. "iCCP: known incorrect sRGB profile"); PIL ignores them too.
void OnWarning(png_structp, png_const_charp) {}

void Read(png_structp png, png_bytep out, png_size_t length) {
  auto* source = static_cast<Source*>(png_get_io_ptr(png));
  if (length > source->size - source->offset) png_error(png, "unexpected end of file (truncated PNG)");
  std::memcpy(out, source->data + source->offset, length);
  source->offset += length;
}

}  // namespace

absl::StatusOr<RgbImage> DecodePng(absl::string_view bytes, const std::string& what,
                                   const DecodeLimits& limits) {
  // Locals changed after setjmp are indeterminate after a longjmp unless
  // volatile; so everything the decode fills lives on the heap behind a
  // pointer that is set once, before setjmp.
  struct State {
    Source source;
    RgbImage image;
    std::vector<png_bytep> rows;
    std::string failure;  // an error we raise ourselves (InvalidArgument rather than DataLoss)
  };
  const auto state = std::make_unique<State>();
  state->source = Source{reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), 0, {0}};
  Source& source = state->source;
  RgbImage& image = state->image;
  std::vector<png_bytep>& rows = state->rows;
  std::string& failure = state->failure;

  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, OnError, OnWarning);
  if (png == nullptr) return absl::ResourceExhaustedError(absl::StrCat(what, ": cannot create a PNG decoder"));
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return absl::ResourceExhaustedError(absl::StrCat(what, ": cannot create a PNG decoder"));
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    if (!failure.empty()) return absl::InvalidArgumentError(failure);
    return absl::DataLossError(absl::StrCat(what, ": corrupt or truncated PNG: ", source.message));
  }
  png_set_read_fn(png, &source, Read);
  png_read_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  if (static_cast<int64_t>(width) * height > limits.max_pixels) {
    failure = absl::StrCat(what, ": PNG of ", width, "x", height, " pixels is larger than the accepted ",
                           limits.max_pixels, " pixels");
    png_error(png, "too large");
  }
  const int color_type = png_get_color_type(png, info);
  png_set_expand(png);  // palette -> RGB, gray < 8 bits -> 8 bits, tRNS -> alpha (dropped below)
  png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<size_t>(width) * 3) {
    failure = absl::StrCat(what, ": PNG layout not convertible to RGB8");
    png_error(png, "layout");
  }

  image = RgbImage(static_cast<int>(width), static_cast<int>(height));
  rows.resize(height);
  for (png_uint_32 y = 0; y < height; ++y) rows[y] = image.Row(static_cast<int>(y));
  png_read_image(png, rows.data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return std::move(image);
}

}  // namespace align::imaging
