#pragma once
// An evaluate job's results, written by the coordinator when every chunk is
// done (docs/evaluation.md):
//   records.jsonl             one line per image: checkpoint, prompt_index, prompt, seed, sample_id,
//                             image, scores {reward: value}, embeddings (file) and embedding_row
//   report.json               every figure of evaluation_metrics.h, the formulas by name, the bootstrap
//   contact_sheet.png         prompts x checkpoints at seed 0 (contact_sheet.h)
//   reward_vs_diversity.png   one scatter panel per reward: mean reward against diversity
// and the report read back for `alignctl report` and its table.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/evaluation/evaluation_metrics.h"
#include "nlohmann/json.hpp"

namespace align::evaluation {

inline constexpr char kReportFile[] = "report.json";
inline constexpr char kContactSheetFile[] = "contact_sheet.png";
inline constexpr char kScatterFile[] = "reward_vs_diversity.png";
// Rows of the contact sheet at most (the first prompts), and its cell side.
inline constexpr int64_t kContactSheetMaxRows = 16;
inline constexpr int kContactSheetCell = 128;

// Every chunk's record and embeddings, as metric input and as records.jsonl's
// text. FailedPrecondition naming a chunk without a finished record; errors
// naming an embeddings file that does not hold the rows its record says.
struct CollectedEvaluation {
  EvaluationData data;
  std::string records_jsonl;
};
absl::StatusOr<CollectedEvaluation> CollectEvaluation(const EvaluateLayout& layout);

// report.json's content.
nlohmann::json ReportJson(const EvaluateLayout& layout, const EvaluationFigures& figures);
// The figures back from report.json's text; errors name what is missing.
absl::StatusOr<EvaluationFigures> ParseReport(const std::string& json_text);

// The terminal table: one row per checkpoint (the base marked '*'), each
// reward's mean, its win rate against the base with the 95% interval, and
// the diversity.
std::string FormatReportTable(const EvaluationFigures& figures);

// Collects, computes and writes records.jsonl, report.json, the contact
// sheet and the scatter plot under the layout's output.
absl::StatusOr<EvaluationFigures> WriteEvaluationReport(const EvaluateLayout& layout,
                                                        const BootstrapOptions& bootstrap);

}  // namespace align::evaluation
