#include "common/prepare_variants_spec.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/manifest.h"
#include "common/job_spec.h"
#include "common/spec_fields.h"
#include "common/status_macros.h"

namespace align {

const std::vector<std::string>& PrepareVariantsFields() {
  static const std::vector<std::string> fields = {"flip_images", "crop_variants"};
  return fields;
}

absl::Status ParsePrepareVariants(const spec_fields::Fields& f, PrepareSpec* prepare) {
  static const spec_fields::NameTable<data::FlipImages> kFlipImages = {{"together", data::FlipImages::kTogether},
                                                                      {"each", data::FlipImages::kEach}};
  RETURN_IF_ERROR(f.Enum("flip_images", kFlipImages, &prepare->flip_images));
  RETURN_IF_ERROR(f.Check("flip_images", !f.Has("flip_images") || prepare->random_flip || prepare->flip_per_step,
                          "only applies with random_flip: true or per_step"));
  RETURN_IF_ERROR(f.Int("crop_variants", &prepare->crop_variants));
  RETURN_IF_ERROR(f.Check("crop_variants",
                          prepare->crop_variants >= 1 && prepare->crop_variants <= data::kMaxCropVariants,
                          absl::StrCat("must be in [1, ", data::kMaxCropVariants, "]")));
  RETURN_IF_ERROR(f.Check("crop_variants", prepare->crop_variants == 1 || !prepare->center_crop,
                          "more than one crop needs center_crop: false (a center crop is one crop)"));
  return absl::OkStatus();
}

}  // namespace align
