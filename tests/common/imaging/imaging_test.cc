// Image decoding and transforms against PIL: decoders must return what
// `Image.open(...).convert("RGB")` returns, and Resize must be bit-identical to
// `Image.resize` (tests/data/golden/pil/make_fixtures.py wrote the references).
// Bad bytes must be errors that name the input, never crashes.

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/imaging/decode_image.h"
#include "common/imaging/image_format.h"
#include "common/imaging/resample.h"
#include "common/imaging/transforms.h"
#include "common/random.h"
#include "gmock/gmock.h"
#include "tests/support/image_encode.h"

namespace align::imaging {
namespace {

using ::testing::HasSubstr;
const std::string kPil = std::string(ALIGN_GOLDEN_DIR) + "/pil/";

RgbImage Load(const std::string& name) {
  absl::StatusOr<std::string> bytes = ReadFileToString(kPil + name);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<RgbImage> image = DecodeImage(*bytes, name);
  EXPECT_TRUE(image.ok()) << image.status();
  return image.ok() ? *image : RgbImage();
}

// Number of differing bytes (0 means identical).
int Differences(const RgbImage& a, const RgbImage& b) {
  if (a.width != b.width || a.height != b.height) return -1;
  int n = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) n += a.pixels[i] != b.pixels[i];
  return n;
}

TEST(ImageFormatTest, SniffsByContent) {
  EXPECT_EQ(SniffImageFormat(testing::EncodeJpeg(testing::TestPicture(8, 8, 1))), ImageFormat::kJpeg);
  EXPECT_EQ(SniffImageFormat(testing::EncodePng(testing::TestPicture(8, 8, 1))), ImageFormat::kPng);
  EXPECT_EQ(SniffImageFormat("GIF89a..."), ImageFormat::kUnknown);
  EXPECT_EQ(DescribeUnsupportedFormat("GIF89a..."), "GIF");
  EXPECT_EQ(DescribeUnsupportedFormat(std::string("RIFF\x10\0\0\0WEBPVP8 ", 16)), "WebP");
  EXPECT_EQ(DescribeUnsupportedFormat(""), "empty");
}

TEST(DecodeTest, JpegMatchesPil) {
  for (const char* name : {"photo", "photo_progressive_444", "gray", "cmyk"}) {
    EXPECT_EQ(Differences(Load(absl::StrCat(name, ".jpg")), Load(absl::StrCat(name, "_decoded.png"))), 0) << name;
  }
}

TEST(DecodeTest, PngConversionsMatchPil) {
  for (const char* name : {"palette", "gray_alpha", "rgba"}) {
    EXPECT_EQ(Differences(Load(absl::StrCat(name, ".png")), Load(absl::StrCat(name, "_decoded.png"))), 0) << name;
  }
}

TEST(DecodeTest, RoundTripsGeneratedFiles) {
  const RgbImage picture = testing::TestPicture(37, 21, 5);
  absl::StatusOr<RgbImage> png = DecodeImage(testing::EncodePng(picture), "p.png");
  ASSERT_TRUE(png.ok()) << png.status();
  EXPECT_EQ(Differences(*png, picture), 0);
  absl::StatusOr<RgbImage> interlaced = DecodeImage(testing::EncodePng(picture, true), "i.png");
  ASSERT_TRUE(interlaced.ok()) << interlaced.status();
  EXPECT_EQ(Differences(*interlaced, picture), 0);

  absl::StatusOr<RgbImage> jpeg = DecodeImage(testing::EncodeJpeg(picture, 95), "p.jpg");
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  ASSERT_EQ(jpeg->width, 37);
  ASSERT_EQ(jpeg->height, 21);
  double err = 0;
  for (size_t i = 0; i < picture.pixels.size(); ++i) err += std::abs(jpeg->pixels[i] - picture.pixels[i]);
  EXPECT_LT(err / picture.pixels.size(), 12.0);  // lossy (sharp test pattern), but the same picture

  absl::StatusOr<RgbImage> gray = DecodeImage(testing::EncodeJpeg(picture, 95, true), "g.jpg");
  ASSERT_TRUE(gray.ok()) << gray.status();
  for (size_t i = 0; i < gray->pixels.size(); i += 3) {
    ASSERT_EQ(gray->pixels[i], gray->pixels[i + 1]);
    ASSERT_EQ(gray->pixels[i], gray->pixels[i + 2]);
  }
}

TEST(DecodeTest, TruncatedAndCorruptFilesAreErrorsNamingTheInput) {
  const RgbImage picture = testing::TestPicture(64, 48, 9);
  const std::string jpeg = testing::EncodeJpeg(picture);
  const std::string png = testing::EncodePng(picture);

  absl::StatusOr<RgbImage> r = DecodeImage(jpeg.substr(0, jpeg.size() / 2), "shard.tar:0001.jpg_0");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("shard.tar:0001.jpg_0"));
  EXPECT_THAT(r.status().message(), HasSubstr("JPEG"));

  r = DecodeImage(png.substr(0, png.size() / 2), "a/b.png");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(r.status().message(), HasSubstr("a/b.png"));
  EXPECT_THAT(r.status().message(), HasSubstr("truncated"));

  r = DecodeImage(jpeg.substr(0, 3), "tiny.jpg");  // the magic only
  EXPECT_FALSE(r.ok());
  r = DecodeImage(png.substr(0, 8), "tiny.png");
  EXPECT_FALSE(r.ok());

  std::string bad_crc = png;
  bad_crc[40] ^= 0x55;  // inside IHDR/IDAT: checksum mismatch
  EXPECT_FALSE(DecodeImage(bad_crc, "crc.png").ok());

  r = DecodeImage("GIF89a\x01\x00\x01\x00", "x.gif");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("unsupported image format (GIF"));
  EXPECT_FALSE(DecodeImage("", "empty.jpg").ok());
}

TEST(DecodeTest, RandomCorruptionNeverCrashes) {
  const RgbImage picture = testing::TestPicture(40, 30, 3);
  const std::string files[] = {testing::EncodeJpeg(picture), testing::EncodePng(picture),
                               testing::EncodePng(picture, true)};
  CounterRng rng(42);
  int failures = 0;
  for (const std::string& file : files) {
    for (int trial = 0; trial < 300; ++trial) {
      std::string bytes = file;
      const int flips = 1 + static_cast<int>(rng.Below(8));
      for (int i = 0; i < flips; ++i) bytes[rng.Below(bytes.size())] = static_cast<char>(rng.Below(256));
      if (trial % 3 == 0) bytes.resize(rng.Below(bytes.size()));
      absl::StatusOr<RgbImage> r = DecodeImage(bytes, "fuzz");
      if (!r.ok()) {
        ++failures;
        EXPECT_THAT(r.status().message(), HasSubstr("fuzz"));
      } else {
        EXPECT_EQ(r->pixels.size(), static_cast<size_t>(r->width) * r->height * 3);
      }
    }
  }
  EXPECT_GT(failures, 300);  // most mutations are detected
}

TEST(DecodeTest, RejectsImagesAboveThePixelLimit) {
  const RgbImage picture = testing::TestPicture(40, 30, 3);
  DecodeLimits limits;
  limits.max_pixels = 1000;
  for (const std::string& bytes : {testing::EncodeJpeg(picture), testing::EncodePng(picture)}) {
    absl::StatusOr<RgbImage> r = DecodeImage(bytes, "big", limits);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("40x30"));
  }
}

TEST(ResampleTest, BitIdenticalToPil) {
  const RgbImage source = Load("source.png");
  ASSERT_EQ(source.width, 53);
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{
           {20, 14}, {16, 11}, {80, 60}, {53, 20}, {30, 37}, {7, 90}, {1, 1}, {106, 74}}) {
    for (const auto& [name, filter] : {std::pair{"bilinear", ResampleFilter::kBilinear},
                                       std::pair{"bicubic", ResampleFilter::kBicubic}}) {
      const RgbImage expected = Load(absl::StrCat(name, "_", w, "x", h, ".png"));
      EXPECT_EQ(Differences(Resize(source, w, h, filter), expected), 0) << name << " " << w << "x" << h;
    }
  }
}

TEST(TransformsTest, ShorterSideFollowsTorchvision) {
  EXPECT_EQ(ShorterSideSize(53, 37, 24), (Size{34, 24}));     // int(24 * 53 / 37) = 34
  EXPECT_EQ(ShorterSideSize(37, 53, 24), (Size{24, 34}));
  EXPECT_EQ(ShorterSideSize(1000, 1000, 1024), (Size{1024, 1024}));
  EXPECT_EQ(ShorterSideSize(1920, 1080, 1024), (Size{1820, 1024}));  // 1820.44 truncated
  EXPECT_EQ(ShorterSideSize(100, 300, 64), (Size{64, 192}));
}

TEST(TransformsTest, CenterCropRoundsHalfToEven) {
  EXPECT_EQ(CenterCropOffset(34, 24), 5);
  EXPECT_EQ(CenterCropOffset(27, 24), 2);  // round(1.5) = 2
  EXPECT_EQ(CenterCropOffset(29, 24), 2);  // round(2.5) = 2
  EXPECT_EQ(CenterCropOffset(31, 24), 4);  // round(3.5) = 4
  EXPECT_EQ(CenterCropOffset(24, 24), 0);
  EXPECT_EQ(CenterCropOffset(20, 24), 0);
}

TEST(TransformsTest, ResizeAndCenterCropMatchTheReferenceChain) {
  const RgbImage resized = ResizeShorterSide(Load("source.png"), 24);
  ASSERT_EQ(resized.width, 34);
  const RgbImage cropped = Crop(resized, CenterCropOffset(resized.height, 24), CenterCropOffset(resized.width, 24), 24, 24);
  EXPECT_EQ(Differences(cropped, Load("chain_resize24_center_crop.png")), 0);
}

TEST(TransformsTest, CropFlipAndNormalise) {
  const RgbImage picture = testing::TestPicture(9, 7, 2);
  const RgbImage flipped = FlipHorizontal(picture);
  EXPECT_EQ(Differences(FlipHorizontal(flipped), picture), 0);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(flipped.Row(3)[0 * 3 + c], picture.Row(3)[8 * 3 + c]);
  const RgbImage crop = Crop(picture, 2, 3, 4, 5);
  ASSERT_EQ(crop.width, 5);
  ASSERT_EQ(crop.height, 4);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(crop.Row(1)[2 * 3 + c], picture.Row(3)[5 * 3 + c]);

  RgbImage tiny(2, 1);
  tiny.pixels = {0, 255, 128, 1, 2, 3};
  const std::vector<float> chw = ToNormalizedChw(tiny);
  ASSERT_EQ(chw.size(), 6u);
  EXPECT_EQ(chw[0], -1.0f);                            // R of pixel 0
  EXPECT_EQ(chw[1], (1.0f / 255.0f - 0.5f) / 0.5f);    // R of pixel 1
  EXPECT_EQ(chw[2], 1.0f);                             // G of pixel 0
  EXPECT_EQ(chw[4], (128.0f / 255.0f - 0.5f) / 0.5f);  // B of pixel 0
}

}  // namespace
}  // namespace align::imaging
