// JPEG through libjpeg-turbo. libjpeg reports fatal errors through
// error_exit, which by default calls exit(): we longjmp back instead, so
// everything the encoder touches after setjmp lives behind a pointer set
// before it (locals changed after setjmp are indeterminate after a longjmp).

#include <csetjmp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/imaging/encode_image.h"
#include "common/imaging/jpeg_errors.h"
#include "jpeglib.h"

namespace align::imaging {

absl::StatusOr<std::string> EncodeJpeg(const RgbImage& image, int quality) {
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot encode a ", image.width, "x", image.height, " image as JPEG"));
  }
  if (quality < 1 || quality > 100) {
    return absl::InvalidArgumentError(absl::StrCat("JPEG quality ", quality, " is outside 1..100"));
  }
  struct State {
    jpeg_compress_struct cinfo;
    JpegErrorManager err;
    unsigned char* buffer = nullptr;
    unsigned long size = 0;
  };
  const auto state = std::make_unique<State>();
  jpeg_compress_struct& cinfo = state->cinfo;
  cinfo.err = jpeg_std_error(&state->err.pub);
  state->err.pub.error_exit = JpegErrorExit;
  state->err.message[0] = '\0';
  if (setjmp(state->err.jump)) {
    jpeg_destroy_compress(&cinfo);
    std::free(state->buffer);
    return absl::InternalError(absl::StrCat("JPEG encoding failed: ", state->err.message));
  }
  jpeg_create_compress(&cinfo);
  jpeg_mem_dest(&cinfo, &state->buffer, &state->size);
  cinfo.image_width = static_cast<JDIMENSION>(image.width);
  cinfo.image_height = static_cast<JDIMENSION>(image.height);
  cinfo.input_components = 3;
  cinfo.in_color_space = JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  while (cinfo.next_scanline < cinfo.image_height) {
    JSAMPROW row = const_cast<JSAMPROW>(image.Row(static_cast<int>(cinfo.next_scanline)));
    jpeg_write_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string bytes(reinterpret_cast<const char*>(state->buffer), state->size);
  std::free(state->buffer);
  return bytes;
}

}  // namespace align::imaging
