#pragma once
// output/metrics.jsonl: one JSON object per optimizer step, plus evaluation
// lines carrying heldout_implicit_accuracy, and with evaluate_every one
// {"evaluation": {...}, "step": N} record per evaluation during training
// (common/step_metrics.h names its fields). Opening it for a run resumed at
// step N drops lines after N, which the interrupted run wrote but whose
// updates were lost with it, so no step appears twice. ReadStep reads one
// step's lines back: a run resumed at its final step reports that step from
// here, since it trains none. Open replaces the file (written whole, then
// renamed), so a writer from an earlier attempt that goes on (a worker group
// that lost the job) appends to the file it opened, now unlinked: its lines
// never reach the new attempt's metrics.jsonl.

#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "worker/engine/trainer.h"

namespace align::engine {

// One step's lines of a metrics.jsonl, as name -> value (JSON null, a
// non-finite number, is NaN; booleans are 0 or 1).
struct LoggedStep {
  std::optional<std::map<std::string, double>> train;  // the step's training line
  std::optional<std::map<std::string, double>> eval;   // its evaluation line, if it had one
  // Its evaluation during training, as TrainEvaluationValues names the figures.
  std::optional<std::map<std::string, double>> evaluation;
};

class MetricsLog {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsLog>> Open(const std::string& path, int64_t keep_through_step);
  // The last training, evaluation and evaluation-during-training lines for `step`; NotFound when the file
  // has neither.
  static absl::StatusOr<LoggedStep> ReadStep(const std::string& path, int64_t step);
  absl::Status WriteStep(const StepMetrics& m);
  absl::Status WriteEval(const EvalMetrics& e);
  absl::Status WriteTrainEvaluation(const TrainEvaluation& e);

 private:
  explicit MetricsLog(std::string path) : path_(std::move(path)) {}
  absl::Status Append(const std::string& line);

  std::string path_;
  std::ofstream out_;
};

}  // namespace align::engine
