#pragma once
// The fields of `prepare:` that choose how a pair's augmentation varies
// (docs/data-preparation.md): whether random_flip flips the pair's images
// together or each on its own (`flip_images`), and how many random crops of
// each pair are stored for training to draw from (`crop_variants`).

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace align {

struct PrepareSpec;

namespace spec_fields {
class Fields;
}  // namespace spec_fields

// The keys these fields add to `prepare:`.
const std::vector<std::string>& PrepareVariantsFields();
// Reads them after center_crop and random_flip; InvalidArgument naming the field.
absl::Status ParsePrepareVariants(const spec_fields::Fields& f, PrepareSpec* prepare);

}  // namespace align
