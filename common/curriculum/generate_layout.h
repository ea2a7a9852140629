#pragma once
// Where a generate job puts what it makes, and how its work is cut: computed
// from the spec alone, identically by the coordinator (to split and count the
// work, and to write the index) and by every rank (to find a chunk's prompts).
//
//   <output>/images/<prompt, 6 digits>-<sample, 3 digits>.png|.jpg
//   <output>/latents/chunk-<c, 5 digits>.safetensors   one per chunk:
//       latents F32 [n, C, h, w]  (final, before VAE decoding: the space prepared datasets store)
//       sample_ids I64 [n], prompt_indices I64 [p]
//       prompt_embeds F32 [p, tokens, dim], pooled_prompt_embeds F32 [p, pooled] (models with a pooled embedding)
//       time_ids F32 [p, 6]
//       empty_prompt_embeds F32 [1, tokens, dim], empty_pooled_prompt_embeds F32 [1, pooled]: the
//       empty prompt's conditioning, for prompt dropout (absent from files older generate jobs wrote)
//   <output>/generate-state/plan.json, chunk-<c>.json  resume state (run_fingerprint.h)
//   <output>/index.jsonl                              written when every chunk is done
//
// Chunk c holds prompts [c * prompts_per_chunk, ...) with all their samples.
// Sample s of prompt p has sample id p * samples_per_prompt + s: it keys the
// sample's noise, so a chunk redone after a failure makes the same images.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace align::curriculum {

inline constexpr char kGenerateStateDir[] = "generate-state";
inline constexpr char kGenerateIndexFile[] = "index.jsonl";
// The tensors of a latents file that hold "" through the prompts' encoders.
inline constexpr char kEmptyPromptEmbeds[] = "empty_prompt_embeds";
inline constexpr char kEmptyPooledPromptEmbeds[] = "empty_pooled_prompt_embeds";

struct GenerateLayout {
  std::string output;
  std::vector<std::string> prompts;
  int64_t samples_per_prompt = 0;
  int64_t prompts_per_chunk = 0;
  ImageFileFormat image_format = ImageFileFormat::kPng;
  uint64_t fingerprint = 0;

  int64_t num_chunks() const;
  int64_t FirstPrompt(int64_t chunk) const;
  int64_t EndPrompt(int64_t chunk) const;
  int64_t SampleId(int64_t prompt_index, int64_t sample) const { return prompt_index * samples_per_prompt + sample; }
  // Relative to `output`.
  std::string ImageFile(int64_t prompt_index, int64_t sample) const;
  std::string LatentsFile(int64_t chunk) const;
  std::string state_dir() const;
  std::string RecordPath(int64_t chunk) const;
};

// `resolved`: a generate job with its paths resolved. Errors name the prompt
// file's problem (prompt_list.h).
absl::StatusOr<GenerateLayout> LayOutGenerateJob(const JobSpec& resolved);

// One image of a finished chunk.
struct GeneratedImage {
  int64_t prompt_index = 0;
  int64_t sample = 0;
  int64_t sample_id = 0;
  std::string image;  // relative to the output
  int64_t latents_row = 0;
};

// Written atomically after the chunk's images and latents file are in place.
struct GenerateChunkRecord {
  int64_t chunk = 0;
  std::string fingerprint;  // hex, the layout's
  std::string latents;      // relative to the output
  std::vector<GeneratedImage> images;
  double seconds = 0;
};

absl::Status WriteGenerateChunkRecord(const GenerateLayout& layout, const GenerateChunkRecord& record);
// The record of a finished chunk: present, of this layout's fingerprint, and
// its latents file exists. nullopt: the chunk must be generated.
std::optional<GenerateChunkRecord> FinishedGenerateChunk(const GenerateLayout& layout, int64_t chunk);

// One line of index.jsonl.
struct GeneratedIndexRow {
  int64_t prompt_index = 0;
  std::string prompt;
  int64_t sample = 0;
  int64_t sample_id = 0;
  std::string image;    // relative to the output
  std::string latents;  // relative to the output
  int64_t latents_row = 0;
};

// index.jsonl from every chunk's record, in sample-id order. FailedPrecondition
// naming a chunk without a record.
absl::Status WriteGenerateIndex(const GenerateLayout& layout);
// A generate job's index.jsonl, from its output directory. Errors name the
// file and line.
absl::StatusOr<std::vector<GeneratedIndexRow>> ReadGenerateIndex(const std::string& generate_output);

}  // namespace align::curriculum
