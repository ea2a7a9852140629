#pragma once
// Preference-alignment losses on per-sample denoising errors: Diffusion-DPO,
// f-divergence DPO, MaPO (reference-free) and an SFT baseline. The formulas
// are fixed by DESIGN.md; docs/losses.md derives them and maps paper
// hyperparameters onto LossSpec.

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/loss_spec.h"

namespace align::engine {

// Per-sample denoising errors of one micro-batch of B pairs: l = mean over
// C,H,W of (target - prediction)^2, shape [B] each. reference_* undefined for
// reference-free losses.
struct PairErrors {
  torch::Tensor policy_w, policy_l, reference_w, reference_l;
};

struct LossOutput {
  torch::Tensor loss;        // scalar, differentiable w.r.t. policy errors (mean over the B pairs)
  torch::Tensor logits;      // [B], detached: z for dpo/fdpo; T*margin for mapo; for sft the
                             // reference-free stand-in -(T/2)(policy_w - policy_l), or zeros
                             // when policy_l was not computed (training steps)
  double implicit_accuracy;  // mean of 1[logit > 0], ties (logit == 0) counting 1/2
  double reward_margin;      // mean z (dpo/fdpo), mean s(L_w)-s(L_l) (mapo), mean stand-in (sft)
  // The two above as 0-dim fp64 tensors on the errors' device: what a step
  // that never waits for the device keeps, to read after it ran.
  torch::Tensor implicit_accuracy_on_device, reward_margin_on_device;
};

class PreferenceLoss {
 public:
  virtual ~PreferenceLoss() = default;
  // Throws c10::Error when the tensors are not [B] vectors of one length
  // (or the reference is missing for a loss that needs it): a caller bug.
  // ComputeOnDevice, then the two metrics read to the host.
  LossOutput Compute(const PairErrors& errors) const;
  // The loss without a host synchronisation: implicit_accuracy and
  // reward_margin are left NaN, their *_on_device tensors hold them.
  virtual LossOutput ComputeOnDevice(const PairErrors& errors) const = 0;
  virtual bool needs_reference() const = 0;  // false for mapo and sft
  // Whether the loss reads the rejected half (policy_l, reference_l); false for
  // sft, whose policy then runs on the preferred images only. Compute accepts
  // an undefined policy_l when this is false.
  virtual bool needs_rejected() const { return true; }
  virtual std::string name() const = 0;      // "dpo", "fdpo_js", "fdpo_alpha", "mapo", "sft", ...
};

// num_train_timesteps = T of the noise schedule.
absl::StatusOr<std::unique_ptr<PreferenceLoss>> MakeLoss(const align::LossSpec& spec,
                                                         int64_t num_train_timesteps);

// --- Building blocks, exposed for tests and for tools that report them. ---

// The exponentials of the forward-KL and alpha links, exp(x) and expm1(x), take
// their argument through a soft cap: x itself up to kExpExactBelow, beyond it
//   a + w * y / (1 + y),  y = (x - a) / w,  a = kExpExactBelow, w = kExpSoftSpan,
// which meets x with equal value and slope at a (C^1), rises monotonically and
// stays below a + w. The links are thus exact for |log u| <= 30 (error gaps up
// to 0.06 at T = 1000), bounded by e^35 beyond, and their slope never becomes
// exactly zero, so a badly ranked pair still pushes the policy back.
inline constexpr double kExpExactBelow = 30.0;
inline constexpr double kExpSoftSpan = 5.0;

// The soft-capped exponent argument above, elementwise.
torch::Tensor SoftCapExponent(const torch::Tensor& x);

// log u = -(T/2) (l_theta - l_ref), elementwise, in the compute dtype.
torch::Tensor ImplicitLogRatio(const torch::Tensor& policy, const torch::Tensor& reference,
                               int64_t num_train_timesteps);

// f'(u) given log u, up to an additive constant that cancels in
// z = beta (f'(u_w) - f'(u_l)). `alpha` is used by kAlpha only.
torch::Tensor LinkDerivative(align::Divergence divergence, double alpha, const torch::Tensor& log_u);

// s(L) = c L / (exp(c L) - 1), c = `snr_value` (LossSpec::snr_value, MaPO's
// --snr_value), with s(0) = 1; finite value and gradient for every finite L.
torch::Tensor MapoScore(const torch::Tensor& errors, double snr_value = 0.5);

}  // namespace align::engine
