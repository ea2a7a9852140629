#include "worker/models/lora.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/random.h"

namespace align::models {
namespace {

bool MatchesTarget(const std::string& name, const std::string& target) {
  return name == target || absl::EndsWith(name, absl::StrCat(".", target));
}

}  // namespace

LoraMatrixImpl::LoraMatrixImpl(torch::Tensor value) { weight = register_parameter("weight", std::move(value)); }

LoraImpl::LoraImpl(int64_t in_features, int64_t out_features, const LoraConfig& config, bool conv,
                   const torch::TensorOptions& options)
    : config_(config), conv_(conv) {
  std::vector<int64_t> down_shape = {config.rank, in_features}, up_shape = {out_features, config.rank};
  if (conv) {
    down_shape.insert(down_shape.end(), {1, 1});
    up_shape.insert(up_shape.end(), {1, 1});
  }
  down = register_module("down", LoraMatrix(torch::zeros(down_shape, options)));
  up = register_module("up", LoraMatrix(torch::zeros(up_shape, options)));
}

torch::Tensor LoraImpl::forward(const torch::Tensor& x) {
  // peft casts the input to the adapter's dtype; under autocast the matmuls
  // then run in the compute precision all the same.
  torch::Tensor h = x.to(down->weight.scalar_type());
  if (config_.dropout > 0 && is_training()) h = torch::dropout(h, config_.dropout, /*train=*/true);
  h = conv_ ? torch::conv2d(torch::conv2d(h, down->weight), up->weight)
            : torch::linear(torch::linear(h, down->weight), up->weight);
  return h * config_.scale();
}

torch::Tensor LoraImpl::Delta() const {
  torch::Tensor a = down->weight.detach().to(torch::kFloat).flatten(1);
  torch::Tensor b = up->weight.detach().to(torch::kFloat).flatten(1);
  torch::Tensor delta = torch::matmul(b, a) * config_.scale();
  return conv_ ? delta.view({delta.size(0), delta.size(1), 1, 1}) : delta;
}

std::vector<std::string> ExpandLoraTargets(const std::vector<std::string>& targets) {
  std::vector<std::string> out;
  for (const std::string& t : targets) {
    if (t == "ff") {
      out.push_back("ff.net.0.proj");
      out.push_back("ff.net.2");
    } else {
      out.push_back(t);
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> InjectLora(torch::nn::Module& model, const std::vector<std::string>& targets,
                                                    const LoraConfig& config, uint64_t seed) {
  const std::vector<std::string> expanded = ExpandLoraTargets(targets);
  auto generator = at::detail::createCPUGenerator(DeriveSeed(seed, {static_cast<uint64_t>(RandomStream::kInit), 0x10a}));
  torch::NoGradGuard no_grad;
  std::vector<std::string> adapted;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    bool wanted = false;
    for (const std::string& t : expanded) wanted = wanted || MatchesTarget(name, t);
    if (!wanted) continue;
    torch::nn::Module* module = item.value().get();
    int64_t in = 0, out = 0;
    bool conv = false;
    torch::Tensor base;
    if (auto* linear = dynamic_cast<LinearImpl*>(module)) {
      if (linear->adapter) return absl::FailedPreconditionError(absl::StrCat(name, " has an adapter already"));
      base = linear->weight;
    } else if (auto* conv2d = dynamic_cast<Conv2dImpl*>(module)) {
      if (conv2d->adapter) return absl::FailedPreconditionError(absl::StrCat(name, " has an adapter already"));
      if (conv2d->kernel_size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("LoRA target ", name, " is a ", conv2d->kernel_size(), "x", conv2d->kernel_size(),
                         " convolution; only Linear layers and 1x1 convolutions can be adapted"));
      }
      base = conv2d->weight;
      conv = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("LoRA target ", name, " is neither a Linear layer nor a 1x1 convolution"));
    }
    out = base.size(0);
    in = base.size(1);
    auto options = torch::TensorOptions().dtype(torch::kFloat).device(base.device());
    Lora lora(in, out, config, conv, options);
    // peft: kaiming_uniform_(A, a=sqrt(5)), i.e. U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    const double bound = 1.0 / std::sqrt(static_cast<double>(lora->down->weight[0].numel()));
    torch::Tensor a = torch::empty(lora->down->weight.sizes(), torch::kFloat);
    a.uniform_(-bound, bound, generator);
    lora->down->weight.copy_(a);
    module->register_module("lora", lora);
    if (auto* linear = dynamic_cast<LinearImpl*>(module)) {
      linear->adapter = lora.ptr();
    } else {
      static_cast<Conv2dImpl*>(module)->adapter = lora.ptr();
    }
    adapted.push_back(name);
  }
  if (adapted.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no layer of the model matches the LoRA targets ", absl::StrJoin(targets, ", ")));
  }
  return adapted;
}

std::vector<std::pair<std::string, Lora>> FindLora(torch::nn::Module& model) {
  std::vector<std::pair<std::string, Lora>> found;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    std::shared_ptr<LoraImpl> lora = std::dynamic_pointer_cast<LoraImpl>(item.value());
    if (!lora) continue;
    std::string layer = item.key();
    layer.resize(layer.size() - std::string(".lora").size());
    found.emplace_back(layer, Lora(lora));
  }
  return found;
}

void SetLoraEnabled(torch::nn::Module& model, bool enabled) {
  for (auto& [name, lora] : FindLora(model)) lora->set_enabled(enabled);
}

LoraDisabledScope::LoraDisabledScope(torch::nn::Module& model) : model_(model) { SetLoraEnabled(model_, false); }
LoraDisabledScope::~LoraDisabledScope() { SetLoraEnabled(model_, true); }

std::vector<std::pair<std::string, torch::Tensor>> LoraParameters(torch::nn::Module& model) {
  std::vector<std::pair<std::string, torch::Tensor>> params;
  for (auto& [layer, lora] : FindLora(model)) {
    params.emplace_back(layer + ".lora.down.weight", lora->down->weight);
    params.emplace_back(layer + ".lora.up.weight", lora->up->weight);
  }
  return params;
}

double LoraNorm(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& [name, p] : LoraParameters(model)) sq += p.to(torch::kDouble).pow(2).sum().item<double>();
  return std::sqrt(sq);
}

}  // namespace align::models
