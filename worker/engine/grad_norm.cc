#include "worker/engine/grad_norm.h"

#include <torch/torch.h>

#include <vector>

namespace align::engine {
namespace {

std::vector<torch::Tensor> DefinedGradients(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  grads.reserve(params.size());
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

}  // namespace

double GlobalGradNorm(const std::vector<torch::Tensor>& params) {
  return GlobalGradNormOnDevice(params).item<double>();
}

torch::Tensor GlobalGradNormOnDevice(const std::vector<torch::Tensor>& params) {
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> grads = DefinedGradients(params);
  if (grads.empty()) return torch::zeros({}, torch::kDouble);
  const std::vector<torch::Tensor> norms = at::_foreach_norm(grads, 2, torch::kDouble);
  return torch::stack(norms).pow(2).sum().sqrt();
}

void ScaleGradients(const std::vector<torch::Tensor>& params, double scale) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads = DefinedGradients(params);
  if (!grads.empty()) at::_foreach_mul_(grads, scale);
}

void ClipGradientsOnDevice(const std::vector<torch::Tensor>& params, const torch::Tensor& norm, double grad_clip) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads = DefinedGradients(params);
  if (grads.empty()) return;
  // The host path's double, grad_clip / (norm + 1e-6), with the same fp64
  // operations; 1 where it would not scale. Cast to the gradients' dtype
  // first: ATen's fused kernel reads the scale tensor as that type, and the
  // double overload rounds its scalar to it too.
  const torch::Tensor scale =
      torch::where(norm > grad_clip, grad_clip / (norm + 1e-6), torch::ones_like(norm)).to(grads.front().scalar_type());
  at::_foreach_mul_(grads, scale);
}

}  // namespace align::engine
