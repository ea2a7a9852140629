#pragma once
// Prompt dropout (classifier-free guidance dropout) for training on a prepared
// dataset. As the reference Diffusion-DPO train.py does with
// --proportion_empty_prompts, a dropped caption is replaced by the empty
// string's text conditioning: the text encoder(s) run on "" (for SDXL too: the
// training script encodes "", it does not use the pipeline's zeros). A prepare
// job stores that conditioning once per dataset, in kEmptyPromptFile; training
// swaps it in for a pair with probability p, drawn per (seed, step, pair id)
// from the counter-based generator, so the draw does not depend on the rank,
// the batch layout or a resume.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/dataset/manifest.h"
#include "common/dataset/pair_batch.h"

namespace align::data {

// Relative to the dataset directory; a subdirectory, so the shard listing of
// the dataset's top level is unchanged.
inline constexpr absl::string_view kEmptyPromptFile = "conditioning/empty_prompt.safetensors";

// Writes `dir`/kEmptyPromptFile: prompt_embeds F32 [1, tokens, context_dim] and,
// when shape.pooled_dim > 0, pooled_prompt_embeds F32 [1, pooled_dim]. Several
// writers (the ranks of a prepare job) may write the same bytes at once: each
// writes a file of its own, named by `writer` and its process id, and renames
// it into place.
absl::Status WriteEmptyPrompt(const std::string& dir, const PairShape& shape, absl::Span<const float> prompt_embeds,
                              absl::Span<const float> pooled_prompt_embeds, int writer = 0);

// Whether pair `pair_id`'s caption is dropped at `step` under probability `p`.
bool PromptDropped(uint64_t seed, int64_t step, int64_t pair_id, double p);

class EmptyPrompt {
 public:
  // Reads `dir`/kEmptyPromptFile and checks it against `shape`; NotFound (saying
  // how to get one) when the dataset has none.
  static absl::StatusOr<EmptyPrompt> Load(const std::string& dir, const PairShape& shape);

  // Replaces the conditioning of every pair of `batch` whose caption
  // PromptDropped() says is dropped; returns how many were.
  int64_t ApplyDropout(PairBatch& batch, uint64_t seed, int64_t step, double p) const;

  const std::vector<float>& prompt_embeds() const { return prompt_embeds_; }
  const std::vector<float>& pooled_prompt_embeds() const { return pooled_; }

 private:
  std::vector<float> prompt_embeds_, pooled_;
};

}  // namespace align::data
