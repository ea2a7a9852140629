#include "worker/engine/overlapped_reduction.h"

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace align::engine {

// The hook: LibTorch's post-accumulate-grad hook (what Python's
// Tensor.register_post_accumulate_grad_hook installs), set with
// torch::autograd::impl::set_post_acc_grad_hooks. AccumulateGrad::apply calls
// it right after it has added this backward's gradient into .grad, once per
// backward, so it fires exactly when the gradient is final for that backward.
// The alternatives are weaker in LibTorch 2.11 C++: Tensor::register_hook on
// a leaf runs before accumulation (it sees the incoming gradient, not .grad);
// a post hook on the AccumulateGrad node (as DDP's reducer does, through the
// grad_fn of an expanded view) works too, but the tensor holds that node only
// weakly, so the hook's owner has to keep every node alive, and a node made
// anew (set_data to another dtype or device) silently drops the hook. The
// tensor's hook slot is one per tensor and is meant for Python's hooks; no
// Python runs in this process, and the destructor clears it.
class OverlappedReduction::AccumulatedHook : public torch::autograd::PostAccumulateGradHook {
 public:
  AccumulatedHook(OverlappedReduction* owner, size_t param) : owner_(owner), param_(param) {}
  void operator()(const torch::autograd::Variable& /*tensor*/) override { owner_->OnAccumulated(param_); }

 private:
  OverlappedReduction* owner_;
  size_t param_;
};

OverlappedReduction::OverlappedReduction(std::vector<torch::Tensor> params, std::vector<std::vector<size_t>> buckets)
    : params_(std::move(params)),
      schedule_(std::move(buckets), params_.size()),
      in_flight_(schedule_.buckets().size()),
      counted_bytes_(params_.size(), 0) {
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::autograd::impl::set_post_acc_grad_hooks(params_[i], std::make_unique<AccumulatedHook>(this, i));
  }
}

OverlappedReduction::~OverlappedReduction() {
  for (const torch::Tensor& p : params_) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  // Collectives still in flight (a step that threw) end before their buffers go.
  for (Started& started : in_flight_) {
    if (started.collective) started.collective->Wait();
  }
}

void OverlappedReduction::BeginStep() {
  for (Started& started : in_flight_) {
    if (started.collective) started.collective->Wait();
    started = Started{};
  }
  schedule_.Reset();
  armed_ = false;
  counted_bytes_.assign(params_.size(), 0);
  held_bytes_ = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].grad().defined()) CountGradient(i);
  }
  peak_bytes_ = held_bytes_;
}

void OverlappedReduction::Arm() { armed_ = true; }

void OverlappedReduction::OnAccumulated(size_t param) {
  if (counted_bytes_[param] == 0) CountGradient(param);
  if (!armed_) return;
  for (size_t b : schedule_.MarkReady(param)) StartBucket(b);
  // Lets MPI move the started collectives on (Open MPI progresses
  // non-blocking collectives only inside MPI calls), and frees the buffers
  // of those done.
  for (size_t b = 0; b < in_flight_.size(); ++b) {
    if (in_flight_[b].collective && in_flight_[b].collective->Test()) Complete(b);
  }
}

void OverlappedReduction::Finish() {
  armed_ = false;
  for (size_t b : schedule_.TakeRemaining()) StartBucket(b);
  for (size_t b = 0; b < in_flight_.size(); ++b) {
    if (in_flight_[b].collective) Complete(b);
  }
}

void OverlappedReduction::StartBucket(size_t b) {
  torch::NoGradGuard no_grad;
  in_flight_[b] = Start(b);
  Hold(static_cast<int64_t>(in_flight_[b].buffer.nbytes()));
}

void OverlappedReduction::Complete(size_t b) {
  torch::NoGradGuard no_grad;
  Started started = std::move(in_flight_[b]);
  in_flight_[b] = Started{};
  started.collective->Wait();
  Done(b, started.buffer);
  Hold(-static_cast<int64_t>(started.buffer.nbytes()));
}

void OverlappedReduction::ReleaseGradient(size_t param) {
  params_[param].mutable_grad() = torch::Tensor();
  Hold(-counted_bytes_[param]);
  counted_bytes_[param] = 0;
}

void OverlappedReduction::CountGradient(size_t param) {
  const torch::Tensor& grad = params_[param].grad();
  if (!grad.defined()) return;
  Hold(static_cast<int64_t>(grad.nbytes()) - counted_bytes_[param]);
  counted_bytes_[param] = static_cast<int64_t>(grad.nbytes());
}

void OverlappedReduction::Hold(int64_t bytes) {
  held_bytes_ += bytes;
  peak_bytes_ = std::max(peak_bytes_, held_bytes_);
}

}  // namespace align::engine
