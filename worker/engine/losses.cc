#include "worker/engine/losses.h"

#include <torch/torch.h>

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace align::engine {
namespace {


// bf16 errors differ in their last bits, and T/2 ~ 500 amplifies exactly those
// bits, so the loss math never runs below fp32. Double stays double so the
// finite-difference tests can check gradients tightly.
torch::Tensor ToComputeDtype(const torch::Tensor& t) {
  return t.scalar_type() == torch::kDouble ? t : t.to(torch::kFloat);
}

// exp and expm1 of the soft-capped argument: finite everywhere, so autograd
// never multiplies 0 by inf.
torch::Tensor CappedExp(const torch::Tensor& x) { return torch::exp(SoftCapExponent(x)); }

// expm1 keeps (1 - u^-alpha)/alpha accurate for small alpha, where 1 - exp(.) would cancel.
torch::Tensor CappedExpm1(const torch::Tensor& x) { return torch::expm1(SoftCapExponent(x)); }

// (1 - u^-alpha) / alpha = -expm1(-alpha log u) / alpha.
torch::Tensor AlphaLink(double alpha, const torch::Tensor& log_u) {
  return -CappedExpm1(-alpha * log_u) / alpha;
}

void CheckErrorVector(const torch::Tensor& t, const char* what, int64_t batch) {
  TORCH_CHECK(t.defined(), "PairErrors.", what, " is undefined");
  TORCH_CHECK(t.dim() == 1, "PairErrors.", what, " must be [B], got ", t.sizes());
  TORCH_CHECK(t.size(0) == batch, "PairErrors.", what, " has ", t.size(0), " entries, policy_w has ", batch);
  TORCH_CHECK(t.is_floating_point(), "PairErrors.", what, " must be floating point");
}

int64_t CheckPairErrors(const PairErrors& e, bool needs_reference) {
  TORCH_CHECK(e.policy_w.defined(), "PairErrors.policy_w is undefined");
  const int64_t batch = e.policy_w.dim() == 1 ? e.policy_w.size(0) : -1;
  TORCH_CHECK(batch > 0, "PairErrors.policy_w must be a non-empty [B] vector, got ", e.policy_w.sizes());
  CheckErrorVector(e.policy_w, "policy_w", batch);
  CheckErrorVector(e.policy_l, "policy_l", batch);
  if (needs_reference) {
    CheckErrorVector(e.reference_w, "reference_w", batch);
    CheckErrorVector(e.reference_l, "reference_l", batch);
  }
  return batch;
}

// Ties count 1/2: at z == 0 the model is indifferent, which is neither a win
// nor a loss (and a freshly initialised policy equals its reference: z == 0).
torch::Tensor ImplicitAccuracy(const torch::Tensor& logits) {
  torch::Tensor wins = (logits > 0).to(torch::kDouble) + 0.5 * (logits == 0).to(torch::kDouble);
  return wins.mean();
}

torch::Tensor MeanOf(const torch::Tensor& t) { return t.to(torch::kDouble).mean(); }

// The host fields stay NaN until Compute reads the tensors.
void SetMetrics(LossOutput& out, const torch::Tensor& accuracy, const torch::Tensor& margin) {
  out.implicit_accuracy = out.reward_margin = std::nan("");
  out.implicit_accuracy_on_device = accuracy;
  out.reward_margin_on_device = margin;
}

// Diffusion-DPO and f-DPO: z = beta (f'(u_w) - f'(u_l)), loss = softplus(-z).
class FDivergenceDpoLoss : public PreferenceLoss {
 public:
  FDivergenceDpoLoss(std::string name, Divergence divergence, double alpha, double beta, int64_t T)
      : name_(std::move(name)), divergence_(divergence), alpha_(alpha), beta_(beta), T_(T) {}

  LossOutput ComputeOnDevice(const PairErrors& e) const override {
    CheckPairErrors(e, /*needs_reference=*/true);
    // The reference is frozen; detaching keeps a reference forward that ran
    // with grad enabled out of the graph.
    torch::Tensor log_u_w = ImplicitLogRatio(e.policy_w, e.reference_w.detach(), T_);
    torch::Tensor log_u_l = ImplicitLogRatio(e.policy_l, e.reference_l.detach(), T_);
    torch::Tensor z = beta_ * (LinkDerivative(divergence_, alpha_, log_u_w) -
                               LinkDerivative(divergence_, alpha_, log_u_l));
    LossOutput out;
    // -log sigmoid(z) as softplus(-z): no log(0) when z is very negative.
    out.loss = torch::softplus(-z).mean();
    out.logits = z.detach();
    SetMetrics(out, ImplicitAccuracy(out.logits), MeanOf(out.logits));
    return out;
  }
  bool needs_reference() const override { return true; }
  std::string name() const override { return name_; }

 private:
  std::string name_;
  Divergence divergence_;
  double alpha_;
  double beta_;
  int64_t T_;
};

// MaPO: loss = mean(L_w) - mapo_beta * mean(log sigmoid(T (s(L_w) - s(L_l)))).
class MapoLoss : public PreferenceLoss {
 public:
  MapoLoss(double mapo_beta, double snr_value, int64_t T) : mapo_beta_(mapo_beta), snr_value_(snr_value), T_(T) {}

  LossOutput ComputeOnDevice(const PairErrors& e) const override {
    CheckPairErrors(e, /*needs_reference=*/false);
    torch::Tensor l_w = ToComputeDtype(e.policy_w);
    torch::Tensor l_l = ToComputeDtype(e.policy_l);
    torch::Tensor margin = MapoScore(l_w, snr_value_) - MapoScore(l_l, snr_value_);
    torch::Tensor logits = static_cast<double>(T_) * margin;
    LossOutput out;
    out.loss = l_w.mean() + mapo_beta_ * torch::softplus(-logits).mean();
    out.logits = logits.detach();
    SetMetrics(out, ImplicitAccuracy(out.logits), MeanOf(margin.detach()));
    return out;
  }
  bool needs_reference() const override { return false; }
  std::string name() const override { return "mapo"; }

 private:
  double mapo_beta_;
  double snr_value_;
  int64_t T_;
};

// Plain denoising loss on the preferred samples: the baseline every
// preference method is compared with. Training runs the policy on the
// preferred half only (needs_rejected() is false); when the rejected errors are
// there (evaluation), its logits are the reference-free log-ratio difference
// so accuracy and margin are comparable across runs, else zeros.
class SftLoss : public PreferenceLoss {
 public:
  explicit SftLoss(int64_t T) : T_(T) {}

  LossOutput ComputeOnDevice(const PairErrors& e) const override {
    const bool has_rejected = e.policy_l.defined();
    if (has_rejected) {
      CheckPairErrors(e, /*needs_reference=*/false);
    } else {
      TORCH_CHECK(e.policy_w.defined() && e.policy_w.dim() == 1 && e.policy_w.size(0) > 0,
                  "PairErrors.policy_w must be a non-empty [B] vector");
    }
    torch::Tensor l_w = ToComputeDtype(e.policy_w);
    LossOutput out;
    out.loss = l_w.mean();
    out.logits = has_rejected ? (-0.5 * static_cast<double>(T_) * (l_w - ToComputeDtype(e.policy_l))).detach()
                              : torch::zeros_like(l_w).detach();
    SetMetrics(out, ImplicitAccuracy(out.logits), MeanOf(out.logits));
    return out;
  }
  bool needs_reference() const override { return false; }
  bool needs_rejected() const override { return false; }
  std::string name() const override { return "sft"; }

 private:
  int64_t T_;
};

}  // namespace

LossOutput PreferenceLoss::Compute(const PairErrors& errors) const {
  LossOutput out = ComputeOnDevice(errors);
  out.implicit_accuracy = out.implicit_accuracy_on_device.item<double>();
  out.reward_margin = out.reward_margin_on_device.item<double>();
  return out;
}

torch::Tensor ImplicitLogRatio(const torch::Tensor& policy, const torch::Tensor& reference,
                               int64_t num_train_timesteps) {
  // Subtract after the cast: in bf16 the difference itself would be rounded.
  torch::Tensor diff = ToComputeDtype(policy) - ToComputeDtype(reference);
  return (-0.5 * static_cast<double>(num_train_timesteps)) * diff;
}

torch::Tensor SoftCapExponent(const torch::Tensor& x) {
  const double a = kExpExactBelow, w = kExpSoftSpan;
  // y is clamped at 0 so the unselected branch stays finite (its gradient is
  // masked by torch::where, and 0 * finite is 0).
  torch::Tensor y = ((x - a) / w).clamp_min(0.0);
  torch::Tensor beyond = a + w * y / (1.0 + y);
  return torch::where(x > a, beyond, x);
}

torch::Tensor LinkDerivative(Divergence divergence, double alpha, const torch::Tensor& log_u) {
  switch (divergence) {
    case Divergence::kReverseKl:
      return log_u + 1.0;
    case Divergence::kForwardKl:
      return -CappedExp(-log_u);
    case Divergence::kJensenShannon:
      // log(2u / (1 + u)) = log 2 + log sigmoid(log u); softplus keeps both tails exact.
      return std::log(2.0) - torch::softplus(-log_u);
    case Divergence::kAlpha:
      return AlphaLink(alpha, log_u);
    case Divergence::kHellinger:
      return AlphaLink(0.5, log_u);
  }
  TORCH_CHECK(false, "unknown divergence ", static_cast<int>(divergence));
  return torch::Tensor();
}

torch::Tensor MapoScore(const torch::Tensor& errors, double snr_value) {
  // x/(e^x - 1) is 0/0 at x = 0 and its autograd derivative cancels
  // catastrophically near 0, so small |x| uses the Bernoulli series; large x
  // uses x e^-x / (1 - e^-x) so e^x never overflows. Each branch only sees
  // inputs it is safe on: torch::where's backward would turn an inf in an
  // unselected branch into NaN.
  constexpr double kSeriesBound = 0.1;  // series error < x^8/1.2e6 ~ 1e-14 there
  torch::Tensor x = snr_value * ToComputeDtype(errors);
  torch::Tensor small = x.abs() < kSeriesBound;
  torch::Tensor positive = x >= kSeriesBound;

  torch::Tensor xs = torch::where(small, x, torch::zeros_like(x));
  torch::Tensor xs2 = xs * xs;
  torch::Tensor series = 1.0 - 0.5 * xs + xs2 * (1.0 / 12.0 - xs2 * (1.0 / 720.0 - xs2 / 30240.0));

  torch::Tensor xp = torch::where(positive, x, torch::ones_like(x));
  torch::Tensor pos = xp * torch::exp(-xp) / -torch::expm1(-xp);

  torch::Tensor xn = torch::where(positive.logical_or(small), -torch::ones_like(x), x);
  torch::Tensor neg = xn / torch::expm1(xn);

  return torch::where(small, series, torch::where(positive, pos, neg));
}

absl::StatusOr<std::unique_ptr<PreferenceLoss>> MakeLoss(const LossSpec& spec, int64_t num_train_timesteps) {
  RETURN_IF_ERROR(ValidateLossSpec(spec));
  if (num_train_timesteps <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_train_timesteps must be positive, got ", num_train_timesteps));
  }
  const int64_t T = num_train_timesteps;
  switch (spec.type) {
    case LossType::kDpo:
      // Diffusion-DPO is f-DPO with the reverse-KL link; spec.divergence is ignored.
      return std::make_unique<FDivergenceDpoLoss>("dpo", Divergence::kReverseKl, spec.alpha, spec.beta, T);
    case LossType::kFdpo:
      return std::make_unique<FDivergenceDpoLoss>(absl::StrCat("fdpo_", DivergenceName(spec.divergence)),
                                                  spec.divergence, spec.alpha, spec.beta, T);
    case LossType::kMapo:
      return std::make_unique<MapoLoss>(spec.mapo_beta, spec.snr_value, T);
    case LossType::kSft:
      return std::make_unique<SftLoss>(T);
  }
  return absl::InvalidArgumentError("loss.type is not a known loss");
}

}  // namespace align::engine
