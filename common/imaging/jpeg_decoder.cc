// JPEG through libjpeg-turbo. libjpeg reports fatal errors through
// error_exit, which by default calls exit(): we longjmp back instead. Corrupt-data
// *warnings* (bad Huffman code, premature end of data) are treated as errors
// too: libjpeg would otherwise hand back a gray-filled or garbled image that
// silently poisons a training set (PIL refuses truncated files for the same reason).

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
#include "common/imaging/jpeg_errors.h"
#include "jpeglib.h"

namespace align::imaging {
namespace {

void OnMessage(j_common_ptr cinfo, int msg_level) {
  if (msg_level >= 0) return;  // trace messages
  JpegErrorExit(cinfo);        // a warning: corrupt or truncated data
}

// PIL decodes CMYK JPEGs with rawmode "CMYK;I" (Adobe's inverted convention,
// which nearly every CMYK JPEG follows) and converts with cmyk2rgb.
inline uint8_t MulDiv255(int a, int b) {
  const int t = a * b + 128;
  return static_cast<uint8_t>(((t >> 8) + t) >> 8);
}

void CmykRowToRgb(const uint8_t* in, uint8_t* out, int width) {
  for (int x = 0; x < width; ++x) {
    const int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], k = 255 - in[3];
    const int nk = 255 - k;
    out[0] = static_cast<uint8_t>(nk - MulDiv255(c, nk));
    out[1] = static_cast<uint8_t>(nk - MulDiv255(m, nk));
    out[2] = static_cast<uint8_t>(nk - MulDiv255(y, nk));
    in += 4;
    out += 3;
  }
}

}  // namespace

absl::StatusOr<RgbImage> DecodeJpeg(absl::string_view bytes, const std::string& what,
                                    const DecodeLimits& limits) {
  // Locals changed after setjmp are indeterminate after a longjmp unless
  // volatile; so everything the decode fills lives on the heap behind a
  // pointer that is set once, before setjmp.
  struct State {
    jpeg_decompress_struct cinfo;
    JpegErrorManager err;
    RgbImage image;
    std::vector<uint8_t> cmyk_row;
  };
  const auto state = std::make_unique<State>();
  jpeg_decompress_struct& cinfo = state->cinfo;
  JpegErrorManager& err = state->err;
  RgbImage& image = state->image;
  std::vector<uint8_t>& cmyk_row = state->cmyk_row;
  std::string failure;  // only read on the path without longjmp

  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = JpegErrorExit;
  err.pub.emit_message = OnMessage;
  err.message[0] = '\0';
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return absl::DataLossError(absl::StrCat(what, ": corrupt or truncated JPEG: ", err.message));
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&cinfo, TRUE);

  const int64_t pixels = static_cast<int64_t>(cinfo.image_width) * cinfo.image_height;
  if (cinfo.image_width == 0 || cinfo.image_height == 0 || pixels > limits.max_pixels) {
    failure = absl::StrCat(what, ": JPEG of ", cinfo.image_width, "x", cinfo.image_height,
                           " pixels is outside the accepted size (1 to ", limits.max_pixels, " pixels)");
  }
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  if (failure.empty() && !cmyk && cinfo.num_components != 1 && cinfo.num_components != 3) {
    failure = absl::StrCat(what, ": unsupported JPEG with ", cinfo.num_components, " components");
  }
  if (!failure.empty()) {
    jpeg_destroy_decompress(&cinfo);
    return absl::InvalidArgumentError(failure);
  }
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;  // gray is replicated to RGB, as PIL's convert("RGB")
  jpeg_start_decompress(&cinfo);

  image = RgbImage(static_cast<int>(cinfo.output_width), static_cast<int>(cinfo.output_height));
  if (cmyk) cmyk_row.resize(static_cast<size_t>(cinfo.output_width) * 4);
  while (cinfo.output_scanline < cinfo.output_height) {
    const int y = static_cast<int>(cinfo.output_scanline);
    JSAMPROW row = cmyk ? cmyk_row.data() : image.Row(y);
    jpeg_read_scanlines(&cinfo, &row, 1);
    if (cmyk) CmykRowToRgb(cmyk_row.data(), image.Row(y), image.width);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return std::move(image);
}

}  // namespace align::imaging
