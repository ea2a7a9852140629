#pragma once
// What a score job reads and writes, computed from the spec alone by the
// coordinator and every rank alike. Its input is a generate job's output (its
// index.jsonl) or any .jsonl file of {"image": path, "prompt": text} (paths
// relative to the file's directory, or absolute). Images are cut into chunks
// of images_per_chunk in input order; chunk c's scores go to
// `<output>/score-state/chunk-<c>.json`, and when every chunk is done
// `<output>/scores.jsonl` holds each input row with its "score" and "reward".

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace align::curriculum {

inline constexpr char kScoreStateDir[] = "score-state";
inline constexpr char kScoresFile[] = "scores.jsonl";

struct ScoreItem {
  std::string image_path;  // absolute, or as given relative to the working directory
  std::string image;       // as the input names it
  std::string prompt;
  // From a generate job's index; nullopt for other inputs.
  std::optional<int64_t> prompt_index, sample, sample_id;
};

struct ScoreLayout {
  std::string output;
  RewardName reward = RewardName::kPickScore;
  std::vector<ScoreItem> items;
  int64_t images_per_chunk = 0;
  uint64_t fingerprint = 0;

  int64_t num_chunks() const;
  int64_t FirstItem(int64_t chunk) const;
  int64_t EndItem(int64_t chunk) const;
  std::string state_dir() const;
  std::string RecordPath(int64_t chunk) const;
};

// `resolved`: a score job with its paths resolved. Errors name the input's problem.
absl::StatusOr<ScoreLayout> LayOutScoreJob(const JobSpec& resolved);

struct ScoreChunkRecord {
  int64_t chunk = 0;
  std::string fingerprint;  // hex
  std::vector<double> scores;  // one per item, in order; finite
  double seconds = 0;
};

absl::Status WriteScoreChunkRecord(const ScoreLayout& layout, const ScoreChunkRecord& record);
std::optional<ScoreChunkRecord> FinishedScoreChunk(const ScoreLayout& layout, int64_t chunk);

// scores.jsonl from the chunk records. FailedPrecondition naming a chunk
// without a record.
absl::Status WriteScores(const ScoreLayout& layout);

struct ScoredRow {
  ScoreItem item;
  double score = 0;
};
// A score job's scores.jsonl, from its output directory.
absl::StatusOr<std::vector<ScoredRow>> ReadScores(const std::string& score_output);

}  // namespace align::curriculum
