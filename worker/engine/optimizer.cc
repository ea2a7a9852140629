#include "worker/engine/optimizer.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
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
    state["step"] = torch::tensor({StepCount()}, torch::kLong);
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
    StepCountLoaded();
    return absl::OkStatus();
  }

 protected:
  // Steps taken so far; an optimizer that counts them on the device too reads that count.
  virtual int64_t StepCount() const { return step_; }
  // After LoadState set step_.
  virtual void StepCountLoaded() {}

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
    if (!device_steps_.empty()) step_ = StepCount();  // steps taken on the device since
    ++step_;
    for (auto& [device, count] : device_steps_) count.fill_(static_cast<double>(step_));
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

  absl::Status CanStepOnDevice() const override {
    if (!spec_.fused) return absl::FailedPreconditionError("a step on the device needs the fused AdamW (optim.fused)");
    return absl::OkStatus();
  }

  // FusedStep with the step count and the learning rate in device memory:
  // the count is incremented there, by 1 - skip, before the kernel reads it,
  // and the kernel's found_inf (exactly 1: skip) leaves every parameter and
  // moment as it was. The host count catches up when it is read
  // (StepCount: a checkpoint; Step: an eager step after device ones).
  void StepOnDevice(const torch::Tensor& lr, const torch::Tensor& skip) override {
    TORCH_CHECK(spec_.fused, CanStepOnDevice().message());
    torch::NoGradGuard no_grad;
    for (const auto& [device, indices] : ByDevice()) {
      // A host tensor here would be read once, when the graph is captured.
      TORCH_CHECK(lr.device() == device && skip.device() == device, "StepOnDevice: lr and skip must be on ", device);
      torch::Tensor& count = DeviceStep(device);
      count.add_(1.0 - skip);
      std::vector<torch::Tensor> ps, gs, ms, vs, steps;
      Gather(indices, count, ps, gs, ms, vs, steps);
      at::_fused_adamw_(ps, gs, ms, vs, /*max_exp_avg_sqs=*/{}, steps, lr, spec_.beta1, spec_.beta2,
                        spec_.weight_decay, spec_.eps, /*amsgrad=*/false, /*maximize=*/false,
                        /*grad_scale=*/std::nullopt, /*found_inf=*/skip);
    }
  }

 protected:
  int64_t StepCount() const override {
    // Every device's count advances together; exact in fp32 below 2^24 steps.
    if (!device_steps_.empty()) return static_cast<int64_t>(device_steps_.front().second.item<double>());
    return step_;
  }
  void StepCountLoaded() override {
    for (auto& [device, count] : device_steps_) count.fill_(static_cast<double>(step_));
  }

 private:
  // The indices of the parameters with a gradient, grouped by device.
  std::vector<std::pair<torch::Device, std::vector<size_t>>> ByDevice() const {
    std::vector<std::pair<torch::Device, std::vector<size_t>>> by_device;
    for (size_t i = 0; i < params_.size(); ++i) {
      const torch::Tensor& p = params_[i].second;
      if (!p.grad().defined()) continue;
      auto group = std::find_if(by_device.begin(), by_device.end(), [&](const auto& g) { return g.first == p.device(); });
      if (group == by_device.end()) group = by_device.insert(by_device.end(), {p.device(), {}});
      group->second.push_back(i);
    }
    return by_device;
  }

  // The kernel's lists for `indices`; every parameter reads the step count `step`.
  void Gather(const std::vector<size_t>& indices, const torch::Tensor& step, std::vector<torch::Tensor>& ps,
              std::vector<torch::Tensor>& gs, std::vector<torch::Tensor>& ms, std::vector<torch::Tensor>& vs,
              std::vector<torch::Tensor>& steps) {
    for (size_t i : indices) {
      auto& [name, p] = params_[i];
      ps.push_back(p);
      gs.push_back(p.grad().scalar_type() == torch::kFloat ? p.grad() : p.grad().to(torch::kFloat));
      ms.push_back(Slot(name, "exp_avg"));
      vs.push_back(Slot(name, "exp_avg_sq"));
      steps.push_back(step);
    }
  }

  // The persistent fp32 step count on `device`, made from the host count
  // the first time (outside any capture: the first device step is a warm-up).
  torch::Tensor& DeviceStep(torch::Device device) {
    for (auto& [d, count] : device_steps_) {
      if (d == device) return count;
    }
    const int64_t taken = StepCount();
    device_steps_.emplace_back(device, torch::full({}, static_cast<double>(taken), torch::TensorOptions(torch::kFloat).device(device)));
    return device_steps_.back().second;
  }

  // The same update as ATen's multi-tensor kernel (torch.optim.AdamW(fused=True)):
  // every parameter of one device in one call instead of ~8 kernels each.
  void FusedStep(double lr) {
    for (const auto& [device, indices] : ByDevice()) {
      std::vector<torch::Tensor> ps, gs, ms, vs, steps;
      // The kernel reads each parameter's step count; all share this one.
      torch::Tensor step = torch::full({}, static_cast<double>(step_), torch::TensorOptions(torch::kFloat).device(device));
      Gather(indices, step, ps, gs, ms, vs, steps);
      at::_fused_adamw_(ps, gs, ms, vs, /*max_exp_avg_sqs=*/{}, steps, lr, spec_.beta1, spec_.beta2,
                        spec_.weight_decay, spec_.eps, /*amsgrad=*/false, /*maximize=*/false);
    }
  }

  OptimSpec spec_;
  // With StepOnDevice: the step count per device, the one the kernel reads.
  std::vector<std::pair<torch::Device, torch::Tensor>> device_steps_;
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

void Optimizer::StepOnDevice(const torch::Tensor& /*lr*/, const torch::Tensor& /*skip*/) {
  TORCH_CHECK(false, CanStepOnDevice().message());
}

absl::Status Optimizer::CanStepOnDevice() const {
  return absl::FailedPreconditionError("a step on the device needs the fused AdamW (optim.fused, optim.name adamw)");
}

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
