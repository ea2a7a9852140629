#include "worker/engine/preference_step.h"

#include <torch/torch.h>

#include <cmath>

#include "worker/models/autocast.h"
#include "worker/models/lora.h"

namespace align::engine {
namespace {

torch::Tensor FromVector(const std::vector<float>& v, std::vector<int64_t> shape, torch::Device device) {
  return torch::from_blob(const_cast<float*>(v.data()), shape, torch::kFloat)
      .to(device, torch::kFloat, /*non_blocking=*/false, /*copy=*/true);
}

torch::Tensor Twice(const torch::Tensor& t) { return torch::cat({t, t}); }

}  // namespace

PairTensors ToDevice(const data::PairBatch& b, torch::Device device) {
  const auto& s = b.shape;
  const int64_t n = b.size;
  PairTensors t;
  t.pairs = n;
  const std::vector<int64_t> latent = {n, s.latent_channels, s.latent_height, s.latent_width};
  t.latents = torch::cat({FromVector(b.latents_w, latent, device), FromVector(b.latents_l, latent, device)});
  t.prompt_embeds = Twice(FromVector(b.prompt_embeds, {n, s.tokens, s.context_dim}, device));
  if (s.pooled_dim > 0) t.pooled = Twice(FromVector(b.pooled_prompt_embeds, {n, s.pooled_dim}, device));
  t.time_ids = Twice(FromVector(b.time_ids, {n, 6}, device));
  return t;
}

NoiseDraws DrawNoise(uint64_t seed, RandomStream stream, int64_t a, const std::vector<int64_t>& keys,
                     c10::IntArrayRef latent_shape, int64_t num_timesteps, torch::Device device) {
  std::vector<torch::Tensor> noise;
  std::vector<int64_t> timesteps;
  for (int64_t key : keys) {
    const uint64_t k = DeriveSeed(seed, {static_cast<uint64_t>(stream), static_cast<uint64_t>(a),
                                         static_cast<uint64_t>(key)});
    auto gen = at::detail::createCPUGenerator(k);
    noise.push_back(torch::randn(latent_shape, gen, torch::kFloat));
    CounterRng t_rng(Mix64(k));
    timesteps.push_back(static_cast<int64_t>(t_rng.Below(static_cast<uint64_t>(num_timesteps))));
  }
  torch::Tensor n = torch::stack(noise);
  torch::Tensor t = torch::tensor(timesteps, torch::kLong);
  return {Twice(n).to(device), Twice(t).to(device)};
}

PreferenceStep::PreferenceStep(models::UNet2DConditionModel policy, models::UNet2DConditionModel reference,
                               const models::NoiseSchedule& schedule, const PreferenceLoss& loss,
                               torch::Device device, bool bf16, bool reference_is_base)
    : policy_(std::move(policy)),
      reference_(std::move(reference)),
      schedule_(schedule),
      loss_(loss),
      device_(device),
      bf16_(bf16),
      reference_is_base_(reference_is_base) {}

StepResult PreferenceStep::Forward(const PairTensors& batch, const NoiseDraws& draws, bool train) {
  StepResult r = ForwardOnDevice(batch, draws, train);
  // One read for all of them: each would wait for the device.
  const torch::Tensor host = r.metrics.cpu();
  const auto m = host.accessor<double, 1>();
  r.out.implicit_accuracy = m[kStepImplicitAccuracy];
  r.out.reward_margin = m[kStepRewardMargin];
  r.policy_w = m[kStepPolicyW];
  r.policy_l = m[kStepPolicyL];
  r.reference_w = m[kStepReferenceW];
  r.reference_l = m[kStepReferenceL];
  return r;
}

StepResult PreferenceStep::ForwardOnDevice(const PairTensors& batch, const NoiseDraws& draws, bool train) {
  const int64_t b = batch.pairs;
  torch::Tensor noisy = schedule_.AddNoise(batch.latents, draws.noise, draws.timesteps);
  torch::Tensor target = schedule_.Target(batch.latents, draws.noise, draws.timesteps);
  models::UNetInputs in{noisy, draws.timesteps, batch.prompt_embeds, batch.pooled, batch.time_ids};
  auto per_sample_mse = [&](const torch::Tensor& pred) {
    return (pred.to(torch::kFloat) - target).pow(2).mean({1, 2, 3});
  };

  PairErrors errors;
  const bool preferred_only = train && !loss_.needs_rejected();
  {
    models::AutocastScope autocast(device_, bf16_);
    torch::AutoGradMode grad_mode(train);
    if (preferred_only) {
      // SFT: the rejected images would cost a forward and never reach the loss.
      models::UNetInputs half = in;
      half.sample = in.sample.narrow(0, 0, b);
      half.timestep = in.timestep.narrow(0, 0, b);
      half.encoder_hidden_states = in.encoder_hidden_states.narrow(0, 0, b);
      if (in.text_embeds.defined()) half.text_embeds = in.text_embeds.narrow(0, 0, b);
      if (in.time_ids.defined()) half.time_ids = in.time_ids.narrow(0, 0, b);
      torch::Tensor pred = policy_->forward(half);
      errors.policy_w = (pred.to(torch::kFloat) - target.narrow(0, 0, b)).pow(2).mean({1, 2, 3});
    } else {
      torch::Tensor mse = per_sample_mse(policy_->forward(in));
      errors.policy_w = mse.narrow(0, 0, b);
      errors.policy_l = mse.narrow(0, b, b);
    }
  }
  if (reference_is_base_) {
    // The base weights are the policy's own, frozen: the same forward with the
    // adapters off, in the policy's precision.
    models::AutocastScope autocast(device_, bf16_);
    torch::NoGradGuard no_grad;
    models::LoraDisabledScope base_only(*policy_);
    torch::Tensor mse = per_sample_mse(policy_->forward(in));
    errors.reference_w = mse.narrow(0, 0, b);
    errors.reference_l = mse.narrow(0, b, b);
  } else if (!reference_.is_empty()) {
    models::AutocastScope autocast(device_, bf16_);
    torch::NoGradGuard no_grad;
    models::UNetInputs ref_in = in;
    if (bf16_) {
      // The reference's weights are bf16; so must its inputs be.
      ref_in.sample = in.sample.to(torch::kBFloat16);
      ref_in.encoder_hidden_states = in.encoder_hidden_states.to(torch::kBFloat16);
      if (in.text_embeds.defined()) ref_in.text_embeds = in.text_embeds.to(torch::kBFloat16);
    }
    torch::Tensor mse = per_sample_mse(reference_->forward(ref_in));
    errors.reference_w = mse.narrow(0, 0, b);
    errors.reference_l = mse.narrow(0, b, b);
  }

  StepResult r;
  r.out = loss_.ComputeOnDevice(errors);
  r.policy_samples = preferred_only ? b : 2 * b;
  r.policy_w = r.policy_l = r.reference_w = r.reference_l = std::nan("");
  // Each MSE's mean in its own dtype, then widened: the value .item<double>() reads.
  const torch::Tensor zero = torch::zeros({}, torch::TensorOptions(torch::kDouble).device(r.out.loss.device()));
  auto mean_of = [&](const torch::Tensor& t) { return t.defined() ? t.detach().mean().to(torch::kDouble) : zero; };
  r.metrics = torch::stack({r.out.loss.detach().to(torch::kDouble), r.out.implicit_accuracy_on_device,
                            r.out.reward_margin_on_device, mean_of(errors.policy_w), mean_of(errors.policy_l),
                            mean_of(errors.reference_w), mean_of(errors.reference_l)});
  return r;
}

}  // namespace align::engine
