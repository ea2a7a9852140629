#pragma once
// `lora:` and `reference:` of a train spec (docs/lora.md): train a low-rank
// adapter on the UNet's layers instead of every weight, and say what the
// frozen reference of a reference-based loss is.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace align {

namespace spec_fields {
class Fields;
}  // namespace spec_fields

struct LoraSpec {
  int64_t rank = 8;
  double alpha = 8;  // default: rank (scale 1)
  // Layer names as peft's target_modules; "ff" is the feed-forward's two projections.
  std::vector<std::string> targets = {"to_q", "to_k", "to_v", "to_out.0"};
  double dropout = 0;
  bool save_merged = false;  // checkpoints also hold the merged UNet
};

// base: the policy's own base weights with the adapters switched off (one
// UNet in memory; LoRA only). model: a second, frozen copy of the model.
enum class ReferenceKind { kModel, kBase };

namespace spec_limits {
inline constexpr int64_t kMaxLoraRank = 1024;
}  // namespace spec_limits

// The layer names `lora.targets` accepts.
const std::vector<std::string>& LoraTargetNames();
std::string ReferenceKindName(ReferenceKind kind);

// Parses the `lora` section (spec_fields.h's reader; job_spec.cc calls it).
absl::Status ParseLoraSection(const spec_fields::Fields& f, LoraSpec* lora);
// `reference:` given `has_lora`; `f` is the spec's top level.
absl::Status ParseReference(const spec_fields::Fields& f, bool has_lora, ReferenceKind* reference);

}  // namespace align
