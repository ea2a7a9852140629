#pragma once
// Where an evaluate job puts what it makes, and how its work is cut: computed
// from the spec alone, identically by the coordinator (to split and count the
// work, and to write the report) and by every rank (to find a chunk's
// checkpoint and prompts).
//
//   <output>/images/<checkpoint>/<prompt, 6 digits>-<seed, 3 digits>.png
//   <output>/embeddings/chunk-<c, 5 digits>.safetensors   embeddings F32 [n, dim], one row per image of the chunk
//   <output>/evaluate-state/plan.json, chunk-<c>.json     resume state: each image's scores and embedding row
//   <output>/records.jsonl                                 every image's record, written when every chunk is done
//   <output>/report.json, contact_sheet.png, reward_vs_diversity.png   (evaluation_report.h)
//
// Chunks run checkpoint by checkpoint: chunk c is checkpoint
// c / chunks_per_checkpoint(), prompts [(c % chunks_per_checkpoint()) *
// prompts_per_chunk, ...) with all their seeds. Seed s of prompt p has sample
// id p * seeds + s for every checkpoint: it keys the initial noise, so every
// checkpoint starts image (p, s) from the same noise (paired comparisons).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace align::evaluation {

inline constexpr char kEvaluateStateDir[] = "evaluate-state";
inline constexpr char kRecordsFile[] = "records.jsonl";

struct EvaluateLayout {
  std::string output;
  std::vector<std::string> prompts;
  std::vector<EvaluateCheckpoint> checkpoints;
  std::vector<std::string> rewards;  // names, in the spec's order
  int base = 0;                      // index into checkpoints
  int64_t seeds = 0;
  int64_t prompts_per_chunk = 0;
  uint64_t fingerprint = 0;

  int64_t chunks_per_checkpoint() const;
  int64_t num_chunks() const;
  int CheckpointOf(int64_t chunk) const;
  int64_t FirstPrompt(int64_t chunk) const;
  int64_t EndPrompt(int64_t chunk) const;
  int64_t ImagesIn(int64_t chunk) const { return (EndPrompt(chunk) - FirstPrompt(chunk)) * seeds; }
  int64_t SampleId(int64_t prompt_index, int64_t seed) const { return prompt_index * seeds + seed; }
  // Relative to `output`.
  std::string ImageFile(int checkpoint, int64_t prompt_index, int64_t seed) const;
  std::string EmbeddingsFile(int64_t chunk) const;
  std::string state_dir() const;
  std::string RecordPath(int64_t chunk) const;
};

// The UNet folder a checkpoint samples with: its `unet` when that holds a
// config.json, its `unet`/unet when that does (a train job's checkpoint-<step>
// folder), else its model's unet/. Coordinator and ranks agree on it.
std::string UNetFolderOf(const EvaluateCheckpoint& checkpoint);

// `resolved`: an evaluate job with its paths resolved. Errors name the prompt
// file's problem (curriculum/prompt_list.h).
absl::StatusOr<EvaluateLayout> LayOutEvaluateJob(const JobSpec& resolved);

// One image of a finished chunk.
struct EvaluatedImage {
  int64_t prompt_index = 0;
  int64_t seed = 0;  // 0 .. seeds - 1
  std::string image;  // relative to the output
  std::map<std::string, double> scores;  // by reward name; finite
  int64_t embedding_row = 0;             // row of the chunk's embeddings file
};

// Written atomically after the chunk's images and embeddings file are in place.
struct EvaluateChunkRecord {
  int64_t chunk = 0;
  std::string fingerprint;  // hex, the layout's
  std::string checkpoint;   // its name
  std::string embeddings;   // relative to the output
  std::vector<EvaluatedImage> images;
  double seconds = 0;
};

absl::Status WriteEvaluateChunkRecord(const EvaluateLayout& layout, const EvaluateChunkRecord& record);
// The record of a finished chunk: present, of this layout's fingerprint and
// checkpoint, a score for every reward, and its embeddings file exists.
// nullopt: the chunk must be done.
std::optional<EvaluateChunkRecord> FinishedEvaluateChunk(const EvaluateLayout& layout, int64_t chunk);

}  // namespace align::evaluation
