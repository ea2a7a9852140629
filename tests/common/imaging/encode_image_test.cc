// PNG and JPEG encoding of RgbImage, round-tripped through the project's own
// decoders: PNG is lossless; JPEG is close, and closer at higher quality.

#include "common/imaging/encode_image.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/imaging/decode_image.h"
#include "common/imaging/image_format.h"
#include "tests/support/image_encode.h"

namespace align::imaging {
namespace {

double MeanAbsDifference(const RgbImage& a, const RgbImage& b) {
  double sum = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(int{a.pixels[i]} - int{b.pixels[i]});
  return sum / static_cast<double>(a.pixels.size());
}

TEST(EncodeImageTest, PngRoundTripsExactly) {
  const RgbImage picture = testing::TestPicture(37, 23, 4);
  absl::StatusOr<std::string> png = EncodePng(picture);
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(SniffImageFormat(*png), ImageFormat::kPng);
  absl::StatusOr<RgbImage> decoded = DecodeImage(*png, "generated.png");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->width, 37);
  EXPECT_EQ(decoded->height, 23);
  EXPECT_EQ(decoded->pixels, picture.pixels);
}

TEST(EncodeImageTest, JpegRoundTripsCloselyAndQualityMatters) {
  const RgbImage picture = testing::TestPicture(64, 48, 5);
  absl::StatusOr<std::string> high = EncodeJpeg(picture, 95);
  absl::StatusOr<std::string> low = EncodeJpeg(picture, 20);
  ASSERT_TRUE(high.ok()) << high.status();
  ASSERT_TRUE(low.ok()) << low.status();
  EXPECT_EQ(SniffImageFormat(*high), ImageFormat::kJpeg);
  EXPECT_LT(low->size(), high->size());
  absl::StatusOr<RgbImage> decoded_high = DecodeImage(*high, "high.jpg");
  absl::StatusOr<RgbImage> decoded_low = DecodeImage(*low, "low.jpg");
  ASSERT_TRUE(decoded_high.ok()) << decoded_high.status();
  ASSERT_TRUE(decoded_low.ok()) << decoded_low.status();
  EXPECT_EQ(decoded_high->width, 64);
  EXPECT_EQ(decoded_high->height, 48);
  const double high_error = MeanAbsDifference(*decoded_high, picture);
  EXPECT_LT(high_error, 8.0);  // of 255: the test picture has a high-frequency pattern
  EXPECT_LT(high_error, MeanAbsDifference(*decoded_low, picture));
  // The same settings as the reference encoder the tests use: identical files.
  EXPECT_EQ(*high, testing::EncodeJpeg(picture, 95));
}

TEST(EncodeImageTest, RejectsEmptyInconsistentImagesAndBadQuality) {
  EXPECT_FALSE(EncodePng(RgbImage()).ok());
  EXPECT_FALSE(EncodeJpeg(RgbImage()).ok());
  RgbImage short_pixels(4, 4);
  short_pixels.pixels.resize(10);
  EXPECT_FALSE(EncodePng(short_pixels).ok());
  EXPECT_FALSE(EncodeJpeg(short_pixels).ok());
  const RgbImage picture = testing::TestPicture(8, 8, 1);
  EXPECT_FALSE(EncodeJpeg(picture, 0).ok());
  EXPECT_FALSE(EncodeJpeg(picture, 101).ok());
  EXPECT_TRUE(EncodeJpeg(picture, 1).ok());
}

}  // namespace
}  // namespace align::imaging
