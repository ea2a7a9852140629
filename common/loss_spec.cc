#include "common/loss_spec.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace align {
namespace {

constexpr char kValidLinks[] = "reverse_kl, forward_kl, js, alpha, hellinger";

template <typename E>
std::string NameIn(const std::vector<std::pair<absl::string_view, E>>& names, E value) {
  for (const auto& [name, v] : names) {
    if (v == value) return std::string(name);
  }
  return "unknown";
}

void RequirePositiveFinite(double value, const char* field, std::vector<LossSpecProblem>* problems) {
  if (std::isfinite(value) && value > 0) return;
  problems->push_back({field, absl::StrCat("must be a finite number > 0, got ", value)});
}

}  // namespace

const std::vector<std::pair<absl::string_view, LossType>>& LossTypeNames() {
  static const auto* names = new std::vector<std::pair<absl::string_view, LossType>>{
      {"dpo", LossType::kDpo}, {"fdpo", LossType::kFdpo}, {"mapo", LossType::kMapo}, {"sft", LossType::kSft}};
  return *names;
}

std::string LossTypeName(LossType type) { return NameIn(LossTypeNames(), type); }

const std::vector<std::pair<absl::string_view, Divergence>>& DivergenceNames() {
  static const auto* names = new std::vector<std::pair<absl::string_view, Divergence>>{
      {"reverse_kl", Divergence::kReverseKl},
      {"forward_kl", Divergence::kForwardKl},
      {"js", Divergence::kJensenShannon},
      {"alpha", Divergence::kAlpha},
      {"hellinger", Divergence::kHellinger}};
  return *names;
}

std::string DivergenceName(Divergence divergence) { return NameIn(DivergenceNames(), divergence); }

absl::StatusOr<Divergence> ParseDivergence(absl::string_view name) {
  for (const auto& [known, divergence] : DivergenceNames()) {
    if (name == known) return divergence;
  }
  if (name == "jensen_shannon") return Divergence::kJensenShannon;
  if (name == "chi_squared" || name == "chi2") {
    return absl::InvalidArgumentError(absl::StrCat(
        "chi-squared is not a valid link for f-DPO: 0 lies in the domain of f'(u) = 2(u - 1), so the "
        "implied optimal policy may put zero probability where the reference does not, the KKT "
        "multipliers do not vanish and the reward cannot be written through the policy ratio (use ",
        kValidLinks, ")"));
  }
  if (name == "total_variation" || name == "tv") {
    return absl::InvalidArgumentError(absl::StrCat(
        "total variation is not a valid link for f-DPO: f'(u) = sign(u - 1) / 2 is piecewise "
        "constant, hence not invertible, so the reward cannot be written through the policy ratio (use ",
        kValidLinks, ")"));
  }
  return absl::NotFoundError(absl::StrCat("unknown divergence '", name, "'; valid: ", kValidLinks));
}

std::vector<LossSpecProblem> LossSpecProblems(const LossSpec& spec) {
  std::vector<LossSpecProblem> problems;
  switch (spec.type) {
    case LossType::kDpo:
      RequirePositiveFinite(spec.beta, "beta", &problems);
      break;
    case LossType::kFdpo:
      RequirePositiveFinite(spec.beta, "beta", &problems);
      if (spec.divergence == Divergence::kAlpha && !(spec.alpha > 0 && spec.alpha < 1)) {
        problems.push_back({"alpha", absl::StrCat("must be in (0, 1) for the alpha divergence, got ", spec.alpha,
                                                  " (alpha -> 0 is reverse_kl, alpha -> 1 is forward_kl; "
                                                  "use those links instead)")});
      }
      break;
    case LossType::kMapo:
      RequirePositiveFinite(spec.mapo_beta, "mapo_beta", &problems);
      RequirePositiveFinite(spec.snr_value, "snr_value", &problems);
      break;
    case LossType::kSft:
      break;
  }
  return problems;
}

absl::Status ValidateLossSpec(const LossSpec& spec) {
  const std::vector<LossSpecProblem> problems = LossSpecProblems(spec);
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("loss.", problems.front().field, " ", problems.front().message));
}

}  // namespace align
