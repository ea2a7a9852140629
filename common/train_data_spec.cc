#include "common/train_data_spec.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/spec_fields.h"
#include "common/status_macros.h"

namespace align {

const std::vector<std::string>& TrainDataFields() {
  static const std::vector<std::string> fields = {"prompt_dropout"};
  return fields;
}

absl::Status ParseTrainData(const spec_fields::Fields& f, TrainDataSpec* data) {
  RETURN_IF_ERROR(f.Double("prompt_dropout", &data->prompt_dropout));
  RETURN_IF_ERROR(f.Check("prompt_dropout", std::isfinite(data->prompt_dropout) && data->prompt_dropout >= 0 &&
                                                data->prompt_dropout <= 1,
                          "must be in [0, 1] (a probability per pair and step)"));
  return absl::OkStatus();
}

}  // namespace align
