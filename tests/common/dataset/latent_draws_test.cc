#include "common/dataset/latent_draws.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

namespace align::data {
namespace {

// One pair of C*H*W = 2 latents with both variants: unflipped w = {1, 2},
// flipped w = {10, 20}; l = w + 100.
PairBatch Batch(int64_t pair_id, bool logvar) {
  PairBatch b;
  b.size = 1;
  b.shape.latent_channels = 2;
  b.shape.latent_height = b.shape.latent_width = 1;
  b.pair_ids = {pair_id};
  b.latents_w = {1, 2};
  b.latents_l = {101, 102};
  b.latents_flipped_w = {10, 20};
  b.latents_flipped_l = {110, 120};
  if (logvar) {
    b.latents_logvar_w = {std::log(0.25f), std::log(4.0f)};  // std 0.5 and 2
    b.latents_logvar_l = b.latents_logvar_w;
    b.latents_flipped_logvar_w = b.latents_logvar_w;
    b.latents_flipped_logvar_l = b.latents_logvar_w;
  }
  return b;
}

TEST(LatentDrawsTest, FlipsDifferPerStepAreReproducibleAndHalfTheTime) {
  int64_t flipped = 0, changes = 0;
  bool previous = false;
  for (int64_t step = 0; step < 4000; ++step) {
    PairBatch b = Batch(7, false);
    const bool flip = DrawLatents(b, 3, step) == 1;
    EXPECT_EQ(flip, LatentFlipped(3, step, 7));
    // The flipped pair carries the flipped latents of both images, else the unflipped ones.
    EXPECT_EQ(b.latents_w, (flip ? std::vector<float>{10, 20} : std::vector<float>{1, 2}));
    EXPECT_EQ(b.latents_l, (flip ? std::vector<float>{110, 120} : std::vector<float>{101, 102}));
    PairBatch again = Batch(7, false);
    DrawLatents(again, 3, step);
    EXPECT_EQ(again.latents_w, b.latents_w);  // same seed and step: same draw
    flipped += flip ? 1 : 0;
    if (step > 0) changes += flip != previous ? 1 : 0;
    previous = flip;
  }
  EXPECT_NEAR(static_cast<double>(flipped) / 4000, 0.5, 0.03);
  EXPECT_NEAR(static_cast<double>(changes) / 3999, 0.5, 0.03);  // independent from step to step
  // Another seed draws another sequence.
  int64_t same = 0;
  for (int64_t step = 0; step < 1000; ++step) same += LatentFlipped(3, step, 7) == LatentFlipped(4, step, 7) ? 1 : 0;
  EXPECT_LT(same, 600);
}

TEST(LatentDrawsTest, SamplesHaveTheStoredMeanAndVarianceDifferPerStepAndReproduce) {
  const int kSteps = 20000;
  double sum[2] = {0, 0}, sq[2] = {0, 0};
  int64_t unflipped = 0;
  std::vector<float> first;
  for (int64_t step = 0; step < kSteps; ++step) {
    PairBatch b = Batch(11, true);
    if (DrawLatents(b, 9, step) != 0) continue;  // the unflipped means only: 1 and 2
    ++unflipped;
    for (int k = 0; k < 2; ++k) {
      sum[k] += b.latents_w[k];
      sq[k] += b.latents_w[k] * b.latents_w[k];
    }
    PairBatch again = Batch(11, true);
    DrawLatents(again, 9, step);
    EXPECT_EQ(again.latents_w, b.latents_w);
    if (first.empty()) {
      first = b.latents_w;
    } else if (unflipped == 2) {
      EXPECT_NE(b.latents_w, first);  // another step, another sample
    }
    // w and l get independent noise.
    EXPECT_NE(b.latents_l[0] - 100, b.latents_w[0]);
  }
  const double n = static_cast<double>(unflipped);
  ASSERT_GT(n, 9000);
  const double mean0 = sum[0] / n, mean1 = sum[1] / n;
  EXPECT_NEAR(mean0, 1.0, 0.02);  // std 0.5: standard error 0.005
  EXPECT_NEAR(mean1, 2.0, 0.08);  // std 2: standard error 0.02
  EXPECT_NEAR(sq[0] / n - mean0 * mean0, 0.25, 0.02);
  EXPECT_NEAR(sq[1] / n - mean1 * mean1, 4.0, 0.25);
}

TEST(LatentDrawsTest, ABatchWithoutVariantsIsLeftAsIs) {
  PairBatch b = Batch(5, false);
  b.latents_flipped_w.clear();
  b.latents_flipped_l.clear();
  EXPECT_EQ(DrawLatents(b, 1, 1), 0);
  EXPECT_EQ(b.latents_w, (std::vector<float>{1, 2}));
}

TEST(LatentDrawsTest, FlipImagesEachFlipsTheTwoImagesOfAPairIndependently) {
  // Over many pairs at one step: with each, the halves agree about half the
  // time (and each is flipped about half the time); together, always.
  for (const FlipImages mode : {FlipImages::kEach, FlipImages::kTogether}) {
    int64_t agree = 0, flipped_w = 0, flipped_l = 0;
    const int kPairs = 4000;
    for (int64_t id = 0; id < kPairs; ++id) {
      PairBatch b = Batch(id, false);
      b.flip_images = mode;
      DrawLatents(b, 3, 17);
      const bool w = b.latents_w[0] == 10, l = b.latents_l[0] == 110;
      EXPECT_EQ(w, ImageFlipped(3, 17, id, 0, mode));
      EXPECT_EQ(l, ImageFlipped(3, 17, id, 1, mode));
      agree += w == l ? 1 : 0;
      flipped_w += w ? 1 : 0;
      flipped_l += l ? 1 : 0;
      // The same seed and step reproduce both draws.
      PairBatch again = Batch(id, false);
      again.flip_images = mode;
      DrawLatents(again, 3, 17);
      EXPECT_EQ(again.latents_w, b.latents_w);
      EXPECT_EQ(again.latents_l, b.latents_l);
    }
    if (mode == FlipImages::kEach) {
      EXPECT_NEAR(static_cast<double>(agree) / kPairs, 0.5, 0.03);
    } else {
      EXPECT_EQ(agree, kPairs);
    }
    EXPECT_NEAR(static_cast<double>(flipped_w) / kPairs, 0.5, 0.03);
    EXPECT_NEAR(static_cast<double>(flipped_l) / kPairs, 0.5, 0.03);
  }
  // together is the draw datasets without flip_images always had.
  for (int64_t step = 0; step < 100; ++step) {
    EXPECT_EQ(ImageFlipped(5, step, 2, 1, FlipImages::kTogether), LatentFlipped(5, step, 2));
  }
}

// One pair stored at 3 crops; crop c's latents hold 10 c + (w: 1, l: 2), its
// flipped latents 10 c + (w: 5, l: 6), its time ids crop (top, left) = (c, 2 c).
PairBatch Crops(int64_t pair_id) {
  PairBatch b;
  b.size = 1;
  b.shape.latent_channels = 1;
  b.shape.latent_height = b.shape.latent_width = 1;
  b.pair_ids = {pair_id};
  b.crop_variants = 3;
  b.latents_w = {1};
  b.latents_l = {2};
  b.latents_flipped_w = {5};
  b.latents_flipped_l = {6};
  b.time_ids = {64, 48, 0, 0, 32, 32};
  b.crop_latents_w = {11, 21};
  b.crop_latents_l = {12, 22};
  b.crop_latents_flipped_w = {15, 25};
  b.crop_latents_flipped_l = {16, 26};
  b.crop_time_ids = {64, 48, 1, 2, 32, 32, 64, 48, 2, 4, 32, 32};
  return b;
}

TEST(LatentDrawsTest, CropsAreDrawnPerStepReproduciblyWithTheirTimeIds) {
  std::vector<int64_t> counts(3, 0);
  int64_t changes = 0, previous = -1;
  const int kSteps = 3000;
  for (int64_t step = 0; step < kSteps; ++step) {
    PairBatch b = Crops(9);
    DrawLatents(b, 4, step);
    const int64_t crop = CropVariant(4, step, 9, 3);
    ASSERT_GE(crop, 0);
    ASSERT_LT(crop, 3);
    ++counts[crop];
    const bool flip = LatentFlipped(4, step, 9);
    // Both images come from the drawn crop, flipped or not, and the time ids
    // are that crop's.
    EXPECT_EQ(b.latents_w[0], 10 * crop + (flip ? 5 : 1));
    EXPECT_EQ(b.latents_l[0], 10 * crop + (flip ? 6 : 2));
    EXPECT_EQ(b.time_ids, (std::vector<float>{64, 48, static_cast<float>(crop), static_cast<float>(2 * crop), 32, 32}));
    PairBatch again = Crops(9);
    DrawLatents(again, 4, step);
    EXPECT_EQ(again.latents_w, b.latents_w);
    EXPECT_EQ(again.time_ids, b.time_ids);
    changes += previous >= 0 && crop != previous ? 1 : 0;
    previous = crop;
  }
  for (int64_t c : counts) EXPECT_NEAR(static_cast<double>(c) / kSteps, 1.0 / 3, 0.03);
  EXPECT_NEAR(static_cast<double>(changes) / (kSteps - 1), 2.0 / 3, 0.03);  // a new draw every step
  // Another seed, other crops.
  int64_t same = 0;
  for (int64_t step = 0; step < 1000; ++step) same += CropVariant(4, step, 9, 3) == CropVariant(5, step, 9, 3);
  EXPECT_LT(same, 450);
}

}  // namespace
}  // namespace align::data
