// libpng reports errors by longjmp-ing to the setjmp point, so everything the
// encoder touches after setjmp lives behind pointers set before it (locals
// changed after setjmp are indeterminate once it returns through longjmp).

#include "common/imaging/encode_image.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace align::imaging {
namespace {

struct Sink {
  std::string bytes;
  char message[256] = {0};
};

void OnError(png_structp png, png_const_charp message) {
  auto* sink = static_cast<Sink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void OnWarning(png_structp, png_const_charp) {}

void Write(png_structp png, png_bytep data, png_size_t length) {
  static_cast<Sink*>(png_get_io_ptr(png))->bytes.append(reinterpret_cast<const char*>(data), length);
}

void Flush(png_structp) {}

}  // namespace

absl::StatusOr<std::string> EncodePng(const RgbImage& image) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode a ", image.width, "x", image.height, " image as PNG"));
  }
  const auto sink = std::make_unique<Sink>();
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.Row(y));

  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink.get(), OnError, OnWarning);
  if (png == nullptr) return absl::ResourceExhaustedError("cannot create a PNG encoder");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return absl::ResourceExhaustedError("cannot create a PNG encoder");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return absl::InternalError(absl::StrCat("PNG encoding failed: ", sink->message));
  }
  png_set_write_fn(png, sink.get(), Write, Flush);
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return std::move(sink->bytes);
}

}  // namespace align::imaging
