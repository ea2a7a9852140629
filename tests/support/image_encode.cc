#include "tests/support/image_encode.h"

#include <png.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/random.h"
#include "jpeglib.h"

namespace align::testing {

std::string EncodeJpeg(const imaging::RgbImage& image, int quality, bool gray) {
  jpeg_compress_struct cinfo;
  jpeg_error_mgr err;
  cinfo.err = jpeg_std_error(&err);  // the inputs are ours: a failure here is a test bug
  jpeg_create_compress(&cinfo);
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&cinfo, &buffer, &size);
  cinfo.image_width = image.width;
  cinfo.image_height = image.height;
  cinfo.input_components = gray ? 1 : 3;
  cinfo.in_color_space = gray ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&cinfo);
  jpeg_set_quality(&cinfo, quality, TRUE);
  jpeg_start_compress(&cinfo, TRUE);
  std::vector<uint8_t> row(image.width * 3);
  while (cinfo.next_scanline < cinfo.image_height) {
    const uint8_t* src = image.Row(static_cast<int>(cinfo.next_scanline));
    if (gray) {
      for (int x = 0; x < image.width; ++x) row[x] = src[x * 3];
    } else {
      std::copy(src, src + image.width * 3, row.begin());
    }
    JSAMPROW p = row.data();
    jpeg_write_scanlines(&cinfo, &p, 1);
  }
  jpeg_finish_compress(&cinfo);
  jpeg_destroy_compress(&cinfo);
  std::string out(reinterpret_cast<char*>(buffer), size);
  std::free(buffer);
  return out;
}

namespace {
void Append(png_structp png, png_bytep data, png_size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), length);
}
void Flush(png_structp) {}
}  // namespace

std::string EncodePng(const imaging::RgbImage& image, bool interlaced) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::abort();  // only on a test bug
  }
  png_set_write_fn(png, &out, Append, Flush);
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB,
               interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = const_cast<png_bytep>(image.Row(y));
  png_set_rows(png, info, rows.data());
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

imaging::RgbImage TestPicture(int width, int height, uint64_t seed) {
  imaging::RgbImage image(width, height);
  CounterRng rng(DeriveSeed(seed, {0x7e57}));
  const int cx = static_cast<int>(rng.Below(width)), cy = static_cast<int>(rng.Below(height));
  const int tint = static_cast<int>(rng.Below(256));
  for (int y = 0; y < height; ++y) {
    uint8_t* row = image.Row(y);
    for (int x = 0; x < width; ++x) {
      const int d = std::abs(x - cx) + std::abs(y - cy);
      row[x * 3 + 0] = static_cast<uint8_t>(x * 255 / std::max(1, width - 1));
      row[x * 3 + 1] = static_cast<uint8_t>(y * 255 / std::max(1, height - 1));
      row[x * 3 + 2] = static_cast<uint8_t>((d * 9 + tint) & 255);
    }
  }
  return image;
}

}  // namespace align::testing
