#pragma once
// Collectives between the ranks of one job. Backends: MPI (CPU tensors) and,
// in CUDA builds, NCCL (CUDA tensors; the NCCL unique id travels over MPI).
// The trainer only sees this interface; the planning of what to reduce when
// (GradientReducer) is separate from the collective itself.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"

namespace align::engine {

// How ReduceScatter combines the ranks' inputs: their sum, or their mean (the
// sum divided by the world size).
enum class ReduceOp { kSum, kMean };

// A collective started without waiting for it (Communicator::Start*). It keeps
// its tensors alive until it is done; its output may be read once Wait() has
// returned. Wait() must be called (on the thread that runs the step) before the
// handle is dropped, and handles are waited on in the order they were started,
// the same order on every rank.
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  // Whether it is done, without blocking. Also what lets MPI move it on:
  // Open MPI progresses a non-blocking collective only inside MPI calls.
  virtual bool Test() = 0;
  // Blocks until it is done (a device collective: until the current stream
  // is ordered after it).
  virtual void Wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual std::string backend() const = 0;
  // In-place elementwise sum over all ranks of a contiguous fp32/fp64 tensor.
  virtual void AllReduceSum(torch::Tensor& tensor) = 0;
  // In-place copy of root's contiguous tensor to every rank.
  virtual void Broadcast(torch::Tensor& tensor, int root) = 0;
  // `input` (world_size * n contiguous elements) combined over ranks with
  // `op`; rank r receives elements [r * n, (r + 1) * n) of the result in
  // `output` (n contiguous elements of the same dtype, not overlapping `input`).
  virtual void ReduceScatter(const torch::Tensor& input, torch::Tensor& output, ReduceOp op) = 0;
  // Rank r's `input` (n contiguous elements) lands at [r * n, (r + 1) * n) of
  // every rank's `output` (world_size * n contiguous elements of the same
  // dtype). `input` may be that very slice of `output` (in place).
  virtual void AllGather(const torch::Tensor& input, torch::Tensor& output) = 0;
  virtual void Barrier() = 0;

  // Non-blocking AllReduceSum / ReduceScatter: the collective starts now and
  // runs while the caller goes on (backward), until the handle's Wait(). The
  // caller leaves the tensors alone until then. Every rank starts the same
  // collectives in the same order. This default runs the blocking collective
  // and returns a handle that is already done (the single-process world).
  virtual std::unique_ptr<PendingCollective> StartAllReduceSum(torch::Tensor tensor);
  virtual std::unique_ptr<PendingCollective> StartReduceScatter(torch::Tensor input, torch::Tensor output,
                                                                ReduceOp op);
};

// TORCH_CHECKs what ReduceScatter and AllGather need of their tensors (every
// backend's): both contiguous, one dtype, `whole` world_size times `part`.
void CheckScatterShapes(const torch::Tensor& whole, const torch::Tensor& part, int world_size);

// A world of one rank, without MPI: every collective leaves its data as it
// is (align-bench's replicated runs).
std::unique_ptr<Communicator> MakeSingleProcessCommunicator();
// MPI_COMM_WORLD; MPI must be initialised (align-worker does it at start).
std::unique_ptr<Communicator> MakeMpiCommunicator();
// NCCL over the ranks of MPI_COMM_WORLD on CUDA device `device` (CPU tensors
// still go over MPI); Unimplemented in builds without CUDA/NCCL.
absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(int device);
// NCCL for CUDA devices where the build has it, else MPI (which stages device
// tensors through host memory).
std::unique_ptr<Communicator> MakeCommunicatorFor(torch::Device device);

// Averages gradients over ranks: packs them into flat buckets of about
// `bucket_bytes`, all-reduces each bucket, and unpacks the mean.
class GradientReducer {
 public:
  GradientReducer(Communicator& comm, std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20);
  void AverageGradients();
  // The fp32 bytes of the largest bucket (the packed copy AverageGradients makes).
  int64_t LargestBucketBytes() const;

 private:
  Communicator& comm_;
  std::vector<torch::Tensor> params_;
  std::vector<std::vector<size_t>> buckets_;  // indices into params_
};

}  // namespace align::engine
