#include "worker/models/activation_recompute.h"

#include <torch/torch.h>

#include "worker/models/autocast.h"

namespace align::models {
namespace {

// Carries the std::function, and the autocast state it ran under, through
// autograd's context: the recomputation must see the same precision.
struct FnHolder : torch::CustomClassHolder {
  FnHolder(RecomputedFn f, AutocastState a) : fn(std::move(f)), autocast(a) {}
  RecomputedFn fn;
  AutocastState autocast;
};

struct RecomputeFunction : public torch::autograd::Function<RecomputeFunction> {
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx,
                                                c10::intrusive_ptr<FnHolder> holder,
                                                at::TensorList inputs) {
    ctx->saved_data["fn"] = c10::IValue::make_capsule(holder);
    ctx->save_for_backward(inputs.vec());
    torch::NoGradGuard no_grad;
    return {holder->fn(inputs.vec())};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    auto holder = c10::static_intrusive_pointer_cast<FnHolder>(ctx->saved_data["fn"].toCapsule());
    std::vector<torch::Tensor> inputs;
    for (const torch::Tensor& saved : ctx->get_saved_variables()) {
      inputs.push_back(saved.detach().requires_grad_(saved.requires_grad()));
    }
    torch::Tensor output;
    {
      torch::AutoGradMode enable_grad(true);
      AutocastScope autocast(holder->autocast);
      output = holder->fn(inputs);
    }
    if (output.requires_grad()) torch::autograd::backward({output}, {grad_outputs[0]});
    torch::autograd::variable_list grads = {torch::Tensor()};  // for the holder
    for (const torch::Tensor& input : inputs) {
      grads.push_back(input.requires_grad() ? input.grad() : torch::Tensor());
    }
    return grads;
  }
};

}  // namespace

torch::Tensor RecomputeInBackward(RecomputedFn fn, const std::vector<torch::Tensor>& inputs) {
  if (!torch::GradMode::is_enabled()) return fn(inputs);
  auto holder = c10::make_intrusive<FnHolder>(std::move(fn), CurrentAutocast());
  return RecomputeFunction::apply(holder, at::TensorList(inputs))[0];
}

}  // namespace align::models
