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
  torch::NoGradGuard no_grad;
  const std::vector<torch::Tensor> grads = DefinedGradients(params);
  if (grads.empty()) return 0.0;
  const std::vector<torch::Tensor> norms = at::_foreach_norm(grads, 2, torch::kDouble);
  return torch::stack(norms).pow(2).sum().sqrt().item<double>();
}

void ScaleGradients(const std::vector<torch::Tensor>& params, double scale) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> grads = DefinedGradients(params);
  if (!grads.empty()) at::_foreach_mul_(grads, scale);
}

}  // namespace align::engine
