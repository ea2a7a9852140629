#include "common/job_spec_sections.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace align::spec_sections {

using spec_fields::Fields;
using spec_fields::NameTable;

const NameTable<CurriculumDifficulty> kDifficulties = {{"rank_gap", CurriculumDifficulty::kRankGap},
                                                       {"score_gap", CurriculumDifficulty::kScoreGap}};
const NameTable<ShardDtype> kShardDtypes = {
    {"f32", ShardDtype::kF32}, {"f16", ShardDtype::kF16}, {"bf16", ShardDtype::kBf16}};

const std::vector<std::string> kGenerateFields = {
    "prompts",         "samples_per_prompt", "negative_prompt", "inference_steps", "guidance_scale", "resolution",
    "height",          "width",              "batch_size",      "prompts_per_chunk", "image_format", "jpeg_quality"};
const std::vector<std::string> kScoreFields = {"images", "reward", "reward_model", "images_per_chunk", "batch_size"};
const std::vector<std::string> kPairsFields = {"generated", "scores",          "difficulty",       "tie_threshold",
                                               "max_pairs_per_prompt", "stages", "binning", "heldout_fraction",
                                               "pairs_per_shard",      "dtype"};

const std::vector<std::string> kEvaluateFields = {"prompts",  "seeds",     "checkpoints", "base",
                                                  "rewards",  "embedder",  "sampling",    "bootstrap",
                                                  "prompts_per_chunk"};
const std::vector<std::string> kTrainEvaluationFields = {"prompts", "max_prompts", "seeds", "rewards", "embedder",
                                                         "sampling"};
const std::vector<std::string> kSamplingFields = {"negative_prompt", "inference_steps", "guidance_scale",
                                                  "resolution",      "height",          "width",
                                                  "batch_size"};

namespace {

const NameTable<ImageFileFormat> kImageFormats = {{"png", ImageFileFormat::kPng}, {"jpeg", ImageFileFormat::kJpeg}};
const NameTable<StageBinning> kBinnings = {{"equal_count", StageBinning::kEqualCount},
                                           {"equal_width", StageBinning::kEqualWidth}};

}  // namespace

absl::Status IntInRange(const Fields& f, const std::string& key, int64_t* out, int64_t lo, int64_t hi) {
  RETURN_IF_ERROR(f.Int(key, out));
  return f.Check(key, *out >= lo && *out <= hi, absl::StrCat("must be from ", lo, " to ", hi));
}

absl::Status RequiredPath(const Fields& f, const std::string& key, absl::string_view meaning, std::string* out) {
  RETURN_IF_ERROR(f.Require(key, absl::StrCat("required (", meaning, ")")));
  RETURN_IF_ERROR(f.String(key, out));
  return f.Check(key, !out->empty(), "must not be empty");
}

// Sampling options sit in the generate section itself and in evaluate's
// `sampling:`; one parser for all of them.
absl::Status ParseSampling(const Fields& f, SamplingSpec* sampling) {
  RETURN_IF_ERROR(f.String("negative_prompt", &sampling->negative_prompt));
  RETURN_IF_ERROR(IntInRange(f, "inference_steps", &sampling->inference_steps, 1, spec_limits::kMaxInferenceSteps));
  RETURN_IF_ERROR(f.Double("guidance_scale", &sampling->guidance_scale));
  RETURN_IF_ERROR(f.Check("guidance_scale", sampling->guidance_scale >= 0 && sampling->guidance_scale <= 100,
                          "must be from 0 to 100 (<= 1: no classifier-free guidance)"));
  RETURN_IF_ERROR(f.Check("resolution", !f.Has("resolution") || (!f.Has("height") && !f.Has("width")),
                          "give resolution (square) or height and width, not both"));
  if (f.Has("resolution")) {
    RETURN_IF_ERROR(IntInRange(f, "resolution", &sampling->height, 8, spec_limits::kMaxImageSide));
    sampling->width = sampling->height;
  }
  RETURN_IF_ERROR(IntInRange(f, "height", &sampling->height, 8, spec_limits::kMaxImageSide));
  RETURN_IF_ERROR(IntInRange(f, "width", &sampling->width, 8, spec_limits::kMaxImageSide));
  return IntInRange(f, "batch_size", &sampling->batch_size, 1, spec_limits::kMaxImageBatch);
}

absl::Status ParseGenerate(const Fields& f, GenerateSpec* generate) {
  RETURN_IF_ERROR(RequiredPath(f, "prompts", "a .txt file, one prompt per line, or a .jsonl file", &generate->prompts));
  RETURN_IF_ERROR(IntInRange(f, "samples_per_prompt", &generate->samples_per_prompt, 1,
                             spec_limits::kMaxSamplesPerPrompt));
  RETURN_IF_ERROR(ParseSampling(f, &generate->sampling));
  RETURN_IF_ERROR(IntInRange(f, "prompts_per_chunk", &generate->prompts_per_chunk, 1, spec_limits::kMaxImagesPerChunk));
  RETURN_IF_ERROR(f.Check("prompts_per_chunk",
                          generate->prompts_per_chunk * generate->samples_per_prompt <= spec_limits::kMaxImagesPerChunk,
                          absl::StrCat("times samples_per_prompt must be <= ", spec_limits::kMaxImagesPerChunk,
                                       " (images per chunk)")));
  RETURN_IF_ERROR(f.Enum("image_format", kImageFormats, &generate->image_format));
  RETURN_IF_ERROR(f.Check("jpeg_quality", !f.Has("jpeg_quality") || generate->image_format == ImageFileFormat::kJpeg,
                          "only applies to image_format: jpeg"));
  return IntInRange(f, "jpeg_quality", &generate->jpeg_quality, 1, 100);
}

absl::Status ParseScore(const Fields& f, ScoreSpec* score) {
  RETURN_IF_ERROR(RequiredPath(f, "images", "a generate job's output directory or a .jsonl of {image, prompt}",
                               &score->images));
  RETURN_IF_ERROR(f.Require("reward", absl::StrCat("required (one of ", spec_fields::NamesOf(RewardNames()), ")")));
  RETURN_IF_ERROR(f.Enum("reward", RewardNames(), &score->reward));
  RETURN_IF_ERROR(RequiredPath(f, "reward_model", "the reward model's folder", &score->reward_model));
  RETURN_IF_ERROR(IntInRange(f, "images_per_chunk", &score->images_per_chunk, 1, spec_limits::kMaxImagesPerChunk));
  return IntInRange(f, "batch_size", &score->batch_size, 1, spec_limits::kMaxImageBatch);
}

absl::Status ParsePairs(const Fields& f, PairsSpec* pairs) {
  RETURN_IF_ERROR(RequiredPath(f, "generated", "the generate job's output directory", &pairs->generated));
  RETURN_IF_ERROR(RequiredPath(f, "scores", "the score job's output directory", &pairs->scores));
  RETURN_IF_ERROR(f.Enum("difficulty", kDifficulties, &pairs->difficulty));
  RETURN_IF_ERROR(f.Double("tie_threshold", &pairs->tie_threshold));
  RETURN_IF_ERROR(f.Check("tie_threshold", pairs->tie_threshold >= 0, "must be >= 0"));
  RETURN_IF_ERROR(IntInRange(f, "max_pairs_per_prompt", &pairs->max_pairs_per_prompt, 0,
                             spec_limits::kMaxPairsPerPrompt));
  RETURN_IF_ERROR(IntInRange(f, "stages", &pairs->stages, 1, spec_limits::kMaxStages));
  RETURN_IF_ERROR(f.Enum("binning", kBinnings, &pairs->binning));
  RETURN_IF_ERROR(f.Double("heldout_fraction", &pairs->heldout_fraction));
  RETURN_IF_ERROR(f.Check("heldout_fraction", pairs->heldout_fraction >= 0 && pairs->heldout_fraction < 1,
                          "must be in [0, 1)"));
  RETURN_IF_ERROR(IntInRange(f, "pairs_per_shard", &pairs->pairs_per_shard, 1, spec_limits::kMaxPairsPerShard));
  return f.Enum("dtype", kShardDtypes, &pairs->dtype);
}

}  // namespace align::spec_sections
