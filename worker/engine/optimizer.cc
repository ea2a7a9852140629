#include "worker/engine/optimizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace align::engine {
namespace {

// Shared bookkeeping: named slots per parameter and a step counter.
class SlottedOptimizer : public Optimizer {
 public:
  explicit SlottedOptimizer(NamedParameters params) : params_(std::move(params)) {}

  std::map<std::string, torch::Tensor> State() const override {
    std::map<std::string, torch::Tensor> state;
    state["step"] = torch::tensor({step_}, torch::kLong);
    for (const auto& [key, tensor] : slots_) state[key] = tensor;
    return state;
  }

  absl::Status LoadState(const std::map<std::string, torch::Tensor>& state) override {
    auto step = state.find("step");
    if (step == state.end()) return absl::InvalidArgumentError("optimizer state has no 'step'");
    torch::NoGradGuard no_grad;
    for (auto& [key, tensor] : slots_) {
      auto it = state.find(key);
      if (it == state.end()) return absl::InvalidArgumentError(absl::StrCat("optimizer state has no '", key, "'"));
      if (it->second.sizes() != tensor.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state '", key, "' has the wrong shape"));
      }
      tensor.copy_(it->second);
    }
    step_ = step->second.item<int64_t>();
    return absl::OkStatus();
  }

 protected:
  torch::Tensor& Slot(const std::string& param, const std::string& slot) { return slots_.at(param + "." + slot); }
  void AddSlot(const std::string& param, const std::string& slot, torch::Tensor value) {
    slots_[param + "." + slot] = std::move(value);
  }

  NamedParameters params_;
  std::map<std::string, torch::Tensor> slots_;
  int64_t step_ = 0;
};

class AdamW : public SlottedOptimizer {
 public:
  AdamW(NamedParameters params, const OptimSpec& spec) : SlottedOptimizer(std::move(params)), spec_(spec) {
    for (const auto& [name, p] : params_) {
      AddSlot(name, "exp_avg", torch::zeros_like(p, torch::kFloat));
      AddSlot(name, "exp_avg_sq", torch::zeros_like(p, torch::kFloat));
    }
  }

  void Step(double lr) override {
    torch::NoGradGuard no_grad;
    ++step_;
    if (spec_.fused) return FusedStep(lr);
    const double bias1 = 1.0 - std::pow(spec_.beta1, static_cast<double>(step_));
    const double bias2 = 1.0 - std::pow(spec_.beta2, static_cast<double>(step_));
    for (auto& [name, p] : params_) {
      if (!p.grad().defined()) continue;
      torch::Tensor g = p.grad().to(torch::kFloat);
      torch::Tensor& m = Slot(name, "exp_avg");
      torch::Tensor& v = Slot(name, "exp_avg_sq");
      p.mul_(1.0 - lr * spec_.weight_decay);
      m.lerp_(g, 1.0 - spec_.beta1);
      v.mul_(spec_.beta2).addcmul_(g, g, 1.0 - spec_.beta2);
      torch::Tensor denom = (v.sqrt() / std::sqrt(bias2)).add_(spec_.eps);
      p.addcdiv_(m, denom, -lr / bias1);
    }
  }

 private:
  // The same update as ATen's multi-tensor kernel (torch.optim.AdamW(fused=True)):
  // every parameter of one device in one call instead of ~8 kernels each.
  void FusedStep(double lr) {
    std::vector<std::pair<torch::Device, std::vector<size_t>>> by_device;
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor& p = params_[i].second;
      if (!p.grad().defined()) continue;
      auto group = std::find_if(by_device.begin(), by_device.end(), [&](const auto& g) { return g.first == p.device(); });
      if (group == by_device.end()) group = by_device.insert(by_device.end(), {p.device(), {}});
      group->second.push_back(i);
    }
    for (const auto& [device, indices] : by_device) {
      std::vector<torch::Tensor> ps, gs, ms, vs, steps;
      // The kernel reads each parameter's step count; all share this one.
      torch::Tensor step = torch::full({}, static_cast<double>(step_), torch::TensorOptions(torch::kFloat).device(device));
      for (size_t i : indices) {
        auto& [name, p] = params_[i];
        ps.push_back(p);
        gs.push_back(p.grad().scalar_type() == torch::kFloat ? p.grad() : p.grad().to(torch::kFloat));
        ms.push_back(Slot(name, "exp_avg"));
        vs.push_back(Slot(name, "exp_avg_sq"));
        steps.push_back(step);
      }
      at::_fused_adamw_(ps, gs, ms, vs, /*max_exp_avg_sqs=*/{}, steps, lr, spec_.beta1, spec_.beta2,
                        spec_.weight_decay, spec_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
  }

  OptimSpec spec_;
};

class Adafactor : public SlottedOptimizer {
 public:
  Adafactor(NamedParameters params, const OptimSpec& spec) : SlottedOptimizer(std::move(params)), spec_(spec) {
    for (const auto& [name, p] : params_) {
      if (p.dim() >= 2) {
        std::vector<int64_t> row(p.sizes().begin(), p.sizes().end() - 1);
        std::vector<int64_t> col(p.sizes().begin(), p.sizes().end() - 2);
        col.push_back(p.size(-1));
        AddSlot(name, "exp_avg_sq_row", torch::zeros(row, torch::kFloat).to(p.device()));
        AddSlot(name, "exp_avg_sq_col", torch::zeros(col, torch::kFloat).to(p.device()));
      } else {
        AddSlot(name, "exp_avg_sq", torch::zeros_like(p, torch::kFloat));
      }
    }
  }

  void Step(double lr) override {
    torch::NoGradGuard no_grad;
    constexpr double kEps1 = 1e-30, kClip = 1.0, kDecay = -0.8;
    ++step_;
    const double beta2t = 1.0 - std::pow(static_cast<double>(step_), kDecay);
    for (auto& [name, p] : params_) {
      if (!p.grad().defined()) continue;
      torch::Tensor g = p.grad().to(torch::kFloat);
      torch::Tensor sq = g * g + kEps1;
      torch::Tensor update;
      if (p.dim() >= 2) {
        torch::Tensor& row = Slot(name, "exp_avg_sq_row");
        torch::Tensor& col = Slot(name, "exp_avg_sq_col");
        row.mul_(beta2t).add_(sq.mean(-1), 1.0 - beta2t);
        col.mul_(beta2t).add_(sq.mean(-2), 1.0 - beta2t);
        torch::Tensor r = (row / row.mean(-1, true)).rsqrt().unsqueeze(-1);
        torch::Tensor c = col.unsqueeze(-2).rsqrt();
        update = r * c * g;
      } else {
        torch::Tensor& v = Slot(name, "exp_avg_sq");
        v.mul_(beta2t).add_(sq, 1.0 - beta2t);
        update = v.rsqrt() * g;
      }
      const double rms = update.pow(2).mean().sqrt().item<double>();
      update.div_(std::max(1.0, rms / kClip)).mul_(lr);
      if (spec_.weight_decay != 0) p.add_(p, -spec_.weight_decay * lr);
      p.sub_(update);
    }
  }

 private:
  OptimSpec spec_;
};

}  // namespace

std::unique_ptr<Optimizer> MakeAdamW(NamedParameters params, const OptimSpec& spec) {
  return std::make_unique<AdamW>(std::move(params), spec);
}

std::unique_ptr<Optimizer> MakeAdafactor(NamedParameters params, const OptimSpec& spec) {
  return std::make_unique<Adafactor>(std::move(params), spec);
}

std::unique_ptr<Optimizer> MakeOptimizer(NamedParameters params, const OptimSpec& spec) {
  if (spec.name == OptimizerName::kAdafactor) return MakeAdafactor(std::move(params), spec);
  return MakeAdamW(std::move(params), spec);
}

}  // namespace align::engine
