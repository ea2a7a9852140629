#pragma once
// `gradient_checkpointing:` and `memory_budget_gib:` of a train spec
// (docs/job-spec.md, docs/training.md): recompute activations in backward for
// none, every or an automatically chosen set of the UNet's blocks.

#include <optional>
#include <string>

#include "absl/status/status.h"

namespace align {

namespace spec_fields {
class Fields;
}  // namespace spec_fields

// none: keep every activation; full: recompute every block; auto: the fewest
// recompute FLOPs whose estimated step memory fits the budget.
enum class GradientCheckpointingMode { kNone, kFull, kAuto };

// auto without memory_budget_gib on CUDA plans against this share of the
// device's total memory: the estimate leaves out the CUDA context, allocator
// fragmentation and the backward's transient gradients.
inline constexpr double kAutoBudgetFractionOfDevice = 0.85;
inline constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;

namespace spec_limits {
inline constexpr double kMaxMemoryBudgetGib = 1024.0 * 1024.0;  // 1 PiB
}  // namespace spec_limits

struct GradientCheckpointing {
  GradientCheckpointingMode mode = GradientCheckpointingMode::kNone;
  std::optional<double> memory_budget_gib;  // auto only; unset: see kAutoBudgetFractionOfDevice

  // Recomputation was asked for (full or auto): what `gradient_checkpointing: true` says.
  explicit operator bool() const { return mode != GradientCheckpointingMode::kNone; }
};

std::string GradientCheckpointingModeName(GradientCheckpointingMode mode);

// Parses both fields from the spec's top level (spec_fields.h's reader;
// job_spec.cc calls it). `true` and `false` are read as full and none.
absl::Status ParseGradientCheckpointing(const spec_fields::Fields& f, bool is_train, GradientCheckpointing* out);

}  // namespace align
