#pragma once
// The preference losses as a job names them: the loss types, the f-divergence links, their
// names, and the rules a loss's numbers follow. One LibTorch-free place, used by the job spec
// parser, align-bench and the training engine (worker/engine/losses.h computes them).

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace align {

enum class LossType { kDpo, kFdpo, kMapo, kSft };
// f-divergences whose f' is an invertible link (chi-squared and total variation are not, and
// are rejected with the reason).
enum class Divergence { kReverseKl, kForwardKl, kJensenShannon, kAlpha, kHellinger };

struct LossSpec {
  LossType type = LossType::kDpo;
  Divergence divergence = Divergence::kReverseKl;  // fdpo only
  double beta = 5.0;       // dpo / fdpo: z = beta (f'(u_w) - f'(u_l)); Diffusion-DPO's beta_dpo = beta * T
  double alpha = 0.5;      // fdpo alpha-divergence, 0 < alpha < 1
  double mapo_beta = 0.1;  // mapo
  // MaPO's c in s(L) = c L / (exp(c L) - 1): the official train script's --snr_value (default 0.5).
  double snr_value = 0.5;  // mapo
};

// "dpo", "fdpo", "mapo", "sft", in that order.
const std::vector<std::pair<absl::string_view, LossType>>& LossTypeNames();
std::string LossTypeName(LossType type);

// "reverse_kl", "forward_kl", "js", "alpha", "hellinger", in that order.
const std::vector<std::pair<absl::string_view, Divergence>>& DivergenceNames();
std::string DivergenceName(Divergence divergence);
// Any name in DivergenceNames(), or "jensen_shannon" (an alias of "js"). chi_squared / chi2 and
// total_variation / tv: InvalidArgument saying why they cannot be f-DPO links; anything else:
// NotFound listing the valid names.
absl::StatusOr<Divergence> ParseDivergence(absl::string_view name);

// The fields of `spec` that break its loss's rules, in field order: beta (dpo, fdpo) and
// mapo_beta and snr_value (mapo) finite and > 0; alpha in (0, 1) for the alpha divergence. Fields the type
// does not use are not checked.
struct LossSpecProblem {
  std::string field;    // "beta", "alpha", "mapo_beta" or "snr_value"
  std::string message;  // e.g. "must be a finite number > 0, got 0"
};
std::vector<LossSpecProblem> LossSpecProblems(const LossSpec& spec);
// OK, or InvalidArgument "loss.<field> <message>" for the first problem.
absl::Status ValidateLossSpec(const LossSpec& spec);

}  // namespace align
