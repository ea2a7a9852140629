#include "worker/engine/communicator.h"

#include <algorithm>
#include <iostream>

#include <mpi.h>
#include <torch/torch.h>

namespace align::engine {
namespace {

MPI_Datatype MpiType(const torch::Tensor& t) {
  TORCH_CHECK(t.is_contiguous() && t.device().is_cpu(), "MPI collectives need contiguous CPU tensors");
  if (t.scalar_type() == torch::kFloat) return MPI_FLOAT;
  if (t.scalar_type() == torch::kDouble) return MPI_DOUBLE;
  if (t.scalar_type() == torch::kLong) return MPI_INT64_T;
  TORCH_CHECK(false, "MPI collectives support fp32, fp64 and int64 tensors, got ", t.scalar_type());
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void AllReduceSum(torch::Tensor& t) override {
    if (size_ == 1) return;
    if (!t.device().is_cpu()) return StagedThroughHost(t, [this](torch::Tensor& h) { AllReduceSum(h); });
    // MPI counts are int: reduce very large tensors in slices.
    constexpr int64_t kSlice = int64_t{1} << 30;
    const MPI_Datatype type = MpiType(t);
    char* base = static_cast<char*>(t.data_ptr());
    for (int64_t offset = 0; offset < t.numel(); offset += kSlice) {
      const int count = static_cast<int>(std::min(kSlice, t.numel() - offset));
      MPI_Allreduce(MPI_IN_PLACE, base + offset * t.element_size(), count, type, MPI_SUM, MPI_COMM_WORLD);
    }
  }

  void Broadcast(torch::Tensor& t, int root) override {
    if (size_ == 1) return;
    if (!t.device().is_cpu()) return StagedThroughHost(t, [&](torch::Tensor& h) { Broadcast(h, root); });
    constexpr int64_t kSlice = int64_t{1} << 30;
    const MPI_Datatype type = MpiType(t);
    char* base = static_cast<char*>(t.data_ptr());
    for (int64_t offset = 0; offset < t.numel(); offset += kSlice) {
      const int count = static_cast<int>(std::min(kSlice, t.numel() - offset));
      MPI_Bcast(base + offset * t.element_size(), count, type, root, MPI_COMM_WORLD);
    }
  }

  void Barrier() override { MPI_Barrier(MPI_COMM_WORLD); }

 private:
  // Device tensors without NCCL: copy to the host, reduce there, copy back.
  template <typename Fn>
  void StagedThroughHost(torch::Tensor& t, Fn&& fn) {
    torch::Tensor host = t.to(torch::kCPU).contiguous();
    fn(host);
    t.copy_(host);
  }

  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> MakeMpiCommunicator() { return std::make_unique<MpiCommunicator>(); }

#ifndef ALIGN_WITH_NCCL
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(int) {
  return absl::UnimplementedError("this build has no NCCL support (build against a CUDA LibTorch with NCCL)");
}
#endif

std::unique_ptr<Communicator> MakeCommunicatorFor(torch::Device device) {
  if (device.is_cuda()) {
    absl::StatusOr<std::unique_ptr<Communicator>> nccl = MakeNcclCommunicator(device.index());
    if (nccl.ok()) return std::move(*nccl);
    // Every rank learns a failure of rank 0's ncclGetUniqueId, or of any
    // rank's communicator (non-blocking, with a deadline), so they fall back
    // together.
    std::cerr << "align-worker: NCCL unavailable (" << nccl.status().message()
              << "); collectives go over MPI, through host memory\n";
  }
  return MakeMpiCommunicator();
}

GradientReducer::GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, int64_t bucket_bytes)
    : comm_(comm), params_(std::move(params)) {
  int64_t current = 0;
  buckets_.emplace_back();
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t bytes = params_[i].numel() * 4;
    if (!buckets_.back().empty() && current + bytes > bucket_bytes) {
      buckets_.emplace_back();
      current = 0;
    }
    buckets_.back().push_back(i);
    current += bytes;
  }
}

void GradientReducer::AverageGradients() {
  if (comm_.world_size() == 1) return;
  torch::NoGradGuard no_grad;
  for (const auto& bucket : buckets_) {
    std::vector<torch::Tensor> grads;
    for (size_t i : bucket) {
      torch::Tensor& p = params_[i];
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad().to(torch::kFloat).reshape({-1}));
    }
    torch::Tensor flat = torch::cat(grads);
    comm_.AllReduceSum(flat);
    flat.div_(comm_.world_size());
    int64_t offset = 0;
    for (size_t i : bucket) {
      torch::Tensor& p = params_[i];
      const int64_t n = p.numel();
      p.grad().copy_(flat.narrow(0, offset, n).view_as(p.grad()));
      offset += n;
    }
  }
}

}  // namespace align::engine
