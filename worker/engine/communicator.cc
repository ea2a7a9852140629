#include "worker/engine/communicator.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>
#include <memory>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// A collective that ran to completion when it was started.
class CompletedCollective : public PendingCollective {
 public:
  bool Test() override { return true; }
  void Wait() override {}
};

// A collective that runs when it is waited on: MPI is initialised with
// MPI_THREAD_FUNNELED (align-worker, align-bench), so only the thread that
// created the communicator may call it. Autograd runs the backward of CPU
// tensors on the thread that called backward(), but that of device tensors on
// its own device threads, where gradient hooks then fire.
class DeferredCollective : public PendingCollective {
 public:
  explicit DeferredCollective(std::function<void()> run) : run_(std::move(run)) {}
  bool Test() override { return !run_; }
  void Wait() override {
    if (!run_) return;
    std::function<void()> run = std::move(run_);
    run_ = nullptr;
    run();
  }

 private:
  std::function<void()> run_;
};

// MPI requests of one collective, the tensors they read and write (alive
// until done), and what follows on completion (the division of a mean).
class MpiPendingCollective : public PendingCollective {
 public:
  MpiPendingCollective(std::vector<MPI_Request> requests, std::vector<torch::Tensor> tensors,
                       std::function<void()> on_done)
      : requests_(std::move(requests)), tensors_(std::move(tensors)), on_done_(std::move(on_done)) {}
  ~MpiPendingCollective() override {
    // Dropped unwaited (a step that threw): the buffers must outlive MPI's use.
    if (!done_) MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
  }
  bool Test() override {
    if (done_) return true;
    int flag = 0;
    MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &flag, MPI_STATUSES_IGNORE);
    if (flag) Finish();
    return done_;
  }
  void Wait() override {
    if (done_) return;
    MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE);
    Finish();
  }

 private:
  void Finish() {
    done_ = true;
    if (on_done_) on_done_();
    tensors_.clear();
  }

  std::vector<MPI_Request> requests_;
  std::vector<torch::Tensor> tensors_;
  std::function<void()> on_done_;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator() : owner_(std::this_thread::get_id()) {
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

  // MPI_Iallreduce / MPI_Ireduce_scatter_block on CPU tensors from the
  // communicator's own thread. Device tensors (staged through host memory),
  // or a call from another thread, run deferred: the collective happens at
  // Wait(), on the thread that waits.
  std::unique_ptr<PendingCollective> StartAllReduceSum(torch::Tensor t) override {
    if (size_ == 1) return std::make_unique<CompletedCollective>();
    if (!t.device().is_cpu() || std::this_thread::get_id() != owner_) {
      return std::make_unique<DeferredCollective>([this, t]() mutable { AllReduceSum(t); });
    }
    constexpr int64_t kSlice = int64_t{1} << 30;
    const MPI_Datatype type = MpiType(t);
    char* base = static_cast<char*>(t.data_ptr());
    std::vector<MPI_Request> requests;
    for (int64_t offset = 0; offset < t.numel(); offset += kSlice) {
      const int count = static_cast<int>(std::min(kSlice, t.numel() - offset));
      requests.emplace_back();
      MPI_Iallreduce(MPI_IN_PLACE, base + offset * t.element_size(), count, type, MPI_SUM, MPI_COMM_WORLD,
                     &requests.back());
    }
    return std::make_unique<MpiPendingCollective>(std::move(requests), std::vector<torch::Tensor>{t}, nullptr);
  }

  std::unique_ptr<PendingCollective> StartReduceScatter(torch::Tensor input, torch::Tensor output,
                                                        ReduceOp op) override {
    CheckScatterShapes(input, output, size_);
    TORCH_CHECK(!Overlap(input, output), "ReduceScatter: output must not overlap input");
    if (size_ == 1) {
      output.copy_(input);
      return std::make_unique<CompletedCollective>();
    }
    if (!input.device().is_cpu() || !output.device().is_cpu() || std::this_thread::get_id() != owner_) {
      return std::make_unique<DeferredCollective>(
          [this, input, output, op]() mutable { ReduceScatter(input, output, op); });
    }
    const MPI_Datatype type = MpiType(output);
    std::vector<MPI_Request> requests(1);
    MPI_Ireduce_scatter_block(input.data_ptr(), output.data_ptr(), BlockCount(output.numel()), type, MPI_SUM,
                              MPI_COMM_WORLD, &requests[0]);
    std::function<void()> on_done;
    if (op == ReduceOp::kMean) on_done = [output, size = size_]() mutable { output.div_(size); };
    return std::make_unique<MpiPendingCollective>(std::move(requests), std::vector<torch::Tensor>{input, output},
                                                  std::move(on_done));
  }

 private:
  // Device tensors without NCCL: copy to the host, reduce there, copy back.
  template <typename Fn>
  void StagedThroughHost(torch::Tensor& t, Fn&& fn) {
    torch::Tensor host = t.to(torch::kCPU).contiguous();
    fn(host);
    t.copy_(host);
  }

  std::thread::id owner_;  // the thread MPI_THREAD_FUNNELED lets call MPI
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

std::unique_ptr<PendingCollective> Communicator::StartAllReduceSum(torch::Tensor tensor) {
  AllReduceSum(tensor);
  return std::make_unique<CompletedCollective>();
}

std::unique_ptr<PendingCollective> Communicator::StartReduceScatter(torch::Tensor input, torch::Tensor output,
                                                                    ReduceOp op) {
  ReduceScatter(input, output, op);
  return std::make_unique<CompletedCollective>();
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

int64_t GradientReducer::LargestBucketBytes() const {
  int64_t largest = 0;
  for (const auto& bucket : buckets_) {
    int64_t bytes = 0;
    for (size_t i : bucket) bytes += params_[i].numel() * 4;
    largest = std::max(largest, bytes);
  }
  return largest;
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
