#include "common/lora_spec.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/spec_fields.h"
#include "common/status_macros.h"

namespace align {
namespace {

const spec_fields::NameTable<ReferenceKind> kReferenceKinds = {{"model", ReferenceKind::kModel},
                                                              {"base", ReferenceKind::kBase}};

}  // namespace

const std::vector<std::string>& LoraTargetNames() {
  static const std::vector<std::string> kNames = {"to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff"};
  return kNames;
}

std::string ReferenceKindName(ReferenceKind kind) { return kind == ReferenceKind::kBase ? "base" : "model"; }

absl::Status ParseLoraSection(const spec_fields::Fields& f, LoraSpec* lora) {
  RETURN_IF_ERROR(f.Int("rank", &lora->rank));
  RETURN_IF_ERROR(f.Check("rank", lora->rank >= 1 && lora->rank <= spec_limits::kMaxLoraRank,
                          absl::StrCat("must be from 1 to ", spec_limits::kMaxLoraRank)));
  lora->alpha = static_cast<double>(lora->rank);
  RETURN_IF_ERROR(f.Double("alpha", &lora->alpha));
  RETURN_IF_ERROR(f.Check("alpha", lora->alpha > 0 && lora->alpha <= 1e6, "must be > 0 and <= 1e6"));
  if (f.Has("targets")) {
    ASSIGN_OR_RETURN(lora->targets, f.StringList("targets"));
    RETURN_IF_ERROR(f.Check("targets", !lora->targets.empty(), "must name at least one layer"));
    const std::vector<std::string>& known = LoraTargetNames();
    for (size_t i = 0; i < lora->targets.size(); ++i) {
      const std::string& t = lora->targets[i];
      RETURN_IF_ERROR(f.Check("targets", std::find(known.begin(), known.end(), t) != known.end(),
                              absl::StrCat("\"", t, "\" is not one of ", absl::StrJoin(known, ", "))));
      RETURN_IF_ERROR(f.Check("targets", std::count(lora->targets.begin(), lora->targets.begin() + i, t) == 0,
                              absl::StrCat("\"", t, "\" is listed twice")));
    }
  }
  RETURN_IF_ERROR(f.Double("dropout", &lora->dropout));
  RETURN_IF_ERROR(f.Check("dropout", lora->dropout >= 0 && lora->dropout < 1, "must be in [0, 1)"));
  RETURN_IF_ERROR(f.Bool("save_merged", &lora->save_merged));
  return absl::OkStatus();
}

absl::Status ParseReference(const spec_fields::Fields& f, bool has_lora, ReferenceKind* reference) {
  *reference = has_lora ? ReferenceKind::kBase : ReferenceKind::kModel;
  RETURN_IF_ERROR(f.Enum("reference", kReferenceKinds, reference));
  return f.Check("reference", has_lora || *reference != ReferenceKind::kBase,
                 "base (the policy with its adapters off) needs a `lora:` section; without LoRA every weight "
                 "trains and the reference must be a separate copy of the model (reference: model)");
}

}  // namespace align
