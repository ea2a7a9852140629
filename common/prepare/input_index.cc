#include "common/prepare/input_index.h"

#include "common/prepare/jsonl_input.h"
#include "common/prepare/webdataset_input.h"

namespace align::prepare {

Label ClassifyLabel(double label_0) {
  if (label_0 == 1.0) return Label::kFirst;
  if (label_0 == 0.0) return Label::kSecond;
  if (label_0 == 0.5) return Label::kTie;
  return Label::kInvalid;
}

absl::StatusOr<InputIndex> BuildInputIndex(const PrepareSpec& spec) {
  if (spec.format == PrepareFormat::kJsonl) return IndexJsonl(spec.input);
  return IndexWebDataset(spec.input);
}

}  // namespace align::prepare
