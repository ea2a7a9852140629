#include "worker/engine/communicator.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>

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

// MPI counts are int. Reduce-scatter and all-gather blocks are not sliced
// (a slice of every rank's block is not contiguous): one rank's block of
// 2^31 elements (8 GiB of fp32) is the limit.
int BlockCount(int64_t numel) {
  TORCH_CHECK(numel <= INT_MAX, "MPI reduce-scatter/all-gather blocks are limited to ", INT_MAX,
              " elements per rank, got ", numel);
  return static_cast<int>(numel);
}

bool Overlap(const torch::Tensor& a, const torch::Tensor& b) {
  const char* a0 = static_cast<const char*>(a.data_ptr());
  const char* b0 = static_cast<const char*>(b.data_ptr());
  return a0 < b0 + b.nbytes() && b0 < a0 + a.nbytes();
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

  void ReduceScatter(const torch::Tensor& input, torch::Tensor& output, ReduceOp op) override {
    CheckScatterShapes(input, output, size_);
    TORCH_CHECK(!Overlap(input, output), "ReduceScatter: output must not overlap input");
    if (size_ == 1) {
      output.copy_(input);
      return;
    }
    if (!input.device().is_cpu() || !output.device().is_cpu()) {
      torch::Tensor host_output = torch::empty(output.sizes(), output.options().device(torch::kCPU));
      ReduceScatter(input.to(torch::kCPU).contiguous(), host_output, op);
      output.copy_(host_output);
      return;
    }
    const MPI_Datatype type = MpiType(output);
    MPI_Reduce_scatter_block(input.data_ptr(), output.data_ptr(), BlockCount(output.numel()), type, MPI_SUM,
                             MPI_COMM_WORLD);
    if (op == ReduceOp::kMean) output.div_(size_);
  }

  void AllGather(const torch::Tensor& input, torch::Tensor& output) override {
    CheckScatterShapes(output, input, size_);
    const bool in_place = input.device() == output.device() &&
                          input.data_ptr() == static_cast<char*>(output.data_ptr()) + rank_ * input.nbytes();
    TORCH_CHECK(in_place || !Overlap(input, output),
                "AllGather: input must be this rank's slice of output, or not overlap it");
    if (size_ == 1) {
      if (!in_place) output.copy_(input);
      return;
    }
    if (!input.device().is_cpu() || !output.device().is_cpu()) {
      torch::Tensor host_output = torch::empty(output.sizes(), output.options().device(torch::kCPU));
      AllGather(input.to(torch::kCPU).contiguous(), host_output);
      output.copy_(host_output);
      return;
    }
    const MPI_Datatype type = MpiType(output);
    const int count = BlockCount(input.numel());
    MPI_Allgather(in_place ? MPI_IN_PLACE : input.data_ptr(), count, type, output.data_ptr(), count, type,
                  MPI_COMM_WORLD);
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

class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "single process"; }
  void AllReduceSum(torch::Tensor& /*tensor*/) override {}
  void Broadcast(torch::Tensor& /*tensor*/, int /*root*/) override {}
  void ReduceScatter(const torch::Tensor& input, torch::Tensor& output, ReduceOp /*op*/) override {
    CheckScatterShapes(input, output, 1);
    output.copy_(input);
  }
  void AllGather(const torch::Tensor& input, torch::Tensor& output) override {
    CheckScatterShapes(output, input, 1);
    if (input.data_ptr() != output.data_ptr()) output.copy_(input);
  }
  void Barrier() override {}
};

}  // namespace

void CheckScatterShapes(const torch::Tensor& whole, const torch::Tensor& part, int world_size) {
  TORCH_CHECK(whole.is_contiguous() && part.is_contiguous(), "reduce-scatter/all-gather need contiguous tensors");
  TORCH_CHECK(whole.scalar_type() == part.scalar_type(), "reduce-scatter/all-gather need one dtype, got ",
              whole.scalar_type(), " and ", part.scalar_type());
  TORCH_CHECK(whole.numel() == part.numel() * world_size, "reduce-scatter/all-gather over ", world_size,
              " ranks: the whole tensor has ", whole.numel(), " elements, the per-rank part ", part.numel());
}

std::unique_ptr<Communicator> MakeMpiCommunicator() { return std::make_unique<MpiCommunicator>(); }

std::unique_ptr<Communicator> MakeSingleProcessCommunicator() {
  return std::make_unique<SingleProcessCommunicator>();
}

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
