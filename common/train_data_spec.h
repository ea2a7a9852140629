#pragma once
// `data:` of a train job: what training does to the prepared pairs as it reads
// them (docs/job-spec.md, "data"). Drawn per (pair, step) from the job's seed
// with the counter-based generator (common/random.h), so a resumed or
// re-sharded job draws exactly what an uninterrupted one would have.

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace align {

namespace spec_fields {
class Fields;
}  // namespace spec_fields

struct TrainDataSpec {
  // The probability that a pair's caption is replaced by the empty prompt for
  // one step (classifier-free guidance dropout). 0: never. The reference
  // Diffusion-DPO train.py's --proportion_empty_prompts defaults to 0.2.
  double prompt_dropout = 0;
};

// The keys of `data:`.
const std::vector<std::string>& TrainDataFields();
// Reads `data:`; InvalidArgument naming the field.
absl::Status ParseTrainData(const spec_fields::Fields& f, TrainDataSpec* data);

}  // namespace align
