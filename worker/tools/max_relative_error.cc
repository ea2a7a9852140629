#include "worker/tools/max_relative_error.h"

#include <cmath>
#include <limits>

namespace align::tools {

double MaxRelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  torch::Tensor a = actual.detach().to(torch::kCPU, torch::kDouble);
  torch::Tensor b = expected.detach().to(torch::kCPU, torch::kDouble);
  if (a.sizes() != b.sizes()) return std::numeric_limits<double>::infinity();
  const double scale = b.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  if (std::isnan(diff)) return std::numeric_limits<double>::infinity();
  return scale > 0 ? diff / scale : diff;
}

}  // namespace align::tools
