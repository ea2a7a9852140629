#include "common/gradient_checkpointing_spec.h"

#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/spec_fields.h"
#include "common/status_macros.h"

namespace align {
namespace {

const spec_fields::NameTable<GradientCheckpointingMode> kModes = {{"none", GradientCheckpointingMode::kNone},
                                                                  {"full", GradientCheckpointingMode::kFull},
                                                                  {"auto", GradientCheckpointingMode::kAuto}};

}  // namespace

std::string GradientCheckpointingModeName(GradientCheckpointingMode mode) {
  for (const auto& [name, value] : kModes) {
    if (value == mode) return std::string(name);
  }
  return "unknown";
}

absl::Status ParseGradientCheckpointing(const spec_fields::Fields& f, bool is_train, GradientCheckpointing* out) {
  constexpr char kMode[] = "gradient_checkpointing";
  constexpr char kBudget[] = "memory_budget_gib";
  if (f.Has(kMode)) {
    std::string text;
    RETURN_IF_ERROR(f.String(kMode, &text));
    const std::string lower = absl::AsciiStrToLower(text);
    bool known = false;
    for (const auto& [name, value] : kModes) {
      if (lower == name) {
        out->mode = value;
        known = true;
      }
    }
    // The boolean form of specs written before the modes existed.
    if (lower == "true" || lower == "false") {
      out->mode = lower == "true" ? GradientCheckpointingMode::kFull : GradientCheckpointingMode::kNone;
      known = true;
    }
    if (!known) {
      return f.Error(kMode, absl::StrCat("expected none, full or auto (true or false also work: full, none), got \"",
                                         text, "\""));
    }
  }
  if (!f.Has(kBudget)) return absl::OkStatus();
  RETURN_IF_ERROR(f.Check(kBudget, is_train, "only applies to type train"));
  RETURN_IF_ERROR(f.Check(kBudget, out->mode == GradientCheckpointingMode::kAuto,
                          absl::StrCat("only applies with gradient_checkpointing: auto (it is ",
                                       GradientCheckpointingModeName(out->mode), ")")));
  double gib = 0;
  RETURN_IF_ERROR(f.Double(kBudget, &gib));
  RETURN_IF_ERROR(f.Check(kBudget, gib > 0 && gib <= spec_limits::kMaxMemoryBudgetGib,
                          absl::StrCat("must be > 0 and <= ", static_cast<int64_t>(spec_limits::kMaxMemoryBudgetGib),
                                       " (GiB), got ", gib)));
  out->memory_budget_gib = gib;
  return absl::OkStatus();
}

}  // namespace align
