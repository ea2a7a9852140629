#pragma once
// Reads the numeric fields of a training run's metrics.jsonl (docs/training.md):
// one JSON object per line with an integer `step`; per-step lines carry loss,
// implicit_accuracy, reward_margin, ...; evaluation lines carry
// heldout_implicit_accuracy.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace align::plot {

struct MetricPoint {
  int64_t step = 0;
  double value = 0;
};

struct MetricsLog {
  // Field name -> its values in step order (a stable sort of file order). A
  // field appears only if some line has it.
  std::map<std::string, std::vector<MetricPoint>> fields;
  int64_t lines = 0;  // non-empty lines read
};

// Collects `fields` from every line that has them. A field written as null
// (how the trainer writes a non-finite value, e.g. on a skipped step) is left
// out of the series. Errors name the file and the 1-based line: a line that
// is not a JSON object (this includes bare NaN or Infinity, which JSON does
// not have), a missing or non-integer `step`, a field that is neither a
// number nor null, or a number too large to be finite.
absl::StatusOr<MetricsLog> ReadMetricsLog(const std::string& path, const std::vector<std::string>& fields);

}  // namespace align::plot
