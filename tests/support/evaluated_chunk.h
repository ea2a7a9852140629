#pragma once
// What an evaluate rank leaves behind for one finished chunk, without a
// model: checkpoint c's images are flat grey 40 + 80c of 48x32 pixels; image
// (p, k) scores pickscore 20 + c + 0.1p - 0.3k and aesthetic 5 - 0.5c + 0.01p
// (for the rewards the layout names); its embedding is (1, k c, 0.5): the
// base's (c = 0) seeds are equal (diversity 0), the others' differ.

#include <cstdint>

#include "absl/status/status.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/imaging/rgb_image.h"

namespace align::testing {

imaging::RgbImage EvaluatedImageOf(int checkpoint);
// The chunk's images, embeddings file and record.
absl::Status WriteEvaluatedChunk(const evaluation::EvaluateLayout& layout, int64_t chunk);

}  // namespace align::testing
