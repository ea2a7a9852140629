#pragma once
// output/metrics.jsonl: one JSON object per optimizer step, plus evaluation
// lines carrying heldout_implicit_accuracy. Opening it for a run resumed at
// step N drops lines after N, which the interrupted run wrote but whose
// updates were lost with it, so no step appears twice.

#include <fstream>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/trainer.h"

namespace align::engine {

class MetricsLog {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& path, int64_t keep_through_step);
  absl::Status WriteStep(const StepMetrics& m);
  absl::Status WriteEval(const EvalMetrics& e);

 private:
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  absl::Status Append(const std::string& line);

  std::string path_;
  std::ofstream out_;
};

}  // namespace align::engine
