// NCCL backend: compiled only in CUDA builds with NCCL (ALIGN_WITH_NCCL).

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <cuda_runtime_api.h>

#include <mpi.h>
#include <nccl.h>
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "worker/engine/async_wait.h"
#include "worker/engine/collective_watchdog.h"
#include "worker/engine/communicator.h"

namespace align::engine {
namespace {

ncclDataType_t NcclType(const torch::Tensor& t) {
  switch (t.scalar_type()) {
    case torch::kFloat: return ncclFloat32;
    case torch::kDouble: return ncclFloat64;
    case torch::kBFloat16: return ncclBfloat16;
    case torch::kHalf: return ncclFloat16;
    case torch::kLong: return ncclInt64;
    default: TORCH_CHECK(false, "NCCL collectives do not support ", t.scalar_type());
  }
}

// Communicators are non-blocking (ncclConfig_t::blocking = 0): a call may
// return ncclInProgress, and ncclCommGetAsyncError says when it is done. So
// no rank waits forever on a peer that died: creating the communicator has a
// deadline, and a CollectiveWatchdog aborts the communicator when a
// collective outlives its own (docs/operations.md, "NCCL timeouts").
AsyncPoll PollComm(ncclComm_t comm) {
  ncclResult_t state = ncclSuccess;
  const ncclResult_t r = ncclCommGetAsyncError(comm, &state);
  if (r != ncclSuccess) return {AsyncState::kFailed, ncclGetErrorString(r)};
  if (state == ncclInProgress) return {AsyncState::kPending, ""};
  if (state != ncclSuccess) return {AsyncState::kFailed, ncclGetErrorString(state)};
  return {AsyncState::kDone, ""};
}

// A CUDA event recorded after a collective on its stream: done when the
// collective's kernel has finished.
class StreamMark {
 public:
  explicit StreamMark(cudaStream_t stream) {
    TORCH_CHECK(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming) == cudaSuccess, "cudaEventCreate failed");
    TORCH_CHECK(cudaEventRecord(event_, stream) == cudaSuccess, "cudaEventRecord failed");
  }
  ~StreamMark() { cudaEventDestroy(event_); }
  StreamMark(const StreamMark&) = delete;
  StreamMark& operator=(const StreamMark&) = delete;

  AsyncPoll Poll() const {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaSuccess) return {AsyncState::kDone, ""};
    if (e == cudaErrorNotReady) return {AsyncState::kPending, ""};
    return {AsyncState::kFailed, cudaGetErrorString(e)};
  }

 private:
  cudaEvent_t event_ = nullptr;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int device, ncclComm_t comm, std::unique_ptr<Communicator> host, absl::Duration timeout)
      : device_(device),
        comm_(comm),
        host_(std::move(host)),
        watchdog_(timeout, [this](const std::string& why) {
          std::cerr << "align-worker: rank " << rank() << ": aborting the NCCL communicator: " << why << std::endl;
          ncclCommAbort(comm_);
        }) {}
  ~NcclCommunicator() override {
    // An aborted communicator is already freed. A non-blocking one is
    // finalized (its pending work flushed, within the deadline) before it is
    // destroyed; one that cannot be is aborted instead.
    if (!watchdog_.abort_reason().empty()) return;
    const ncclResult_t r = ncclCommFinalize(comm_);
    const absl::Status finalized =
        r == ncclSuccess || r == ncclInProgress
            ? WaitUntilDone([this] { return PollComm(comm_); }, absl::Minutes(1), "ncclCommFinalize")
            : absl::UnavailableError(ncclGetErrorString(r));
    if (finalized.ok()) {
      ncclCommDestroy(comm_);
    } else {
      ncclCommAbort(comm_);
    }
  }

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  std::string backend() const override { return "nccl"; }

  void AllReduceSum(torch::Tensor& t) override {
    if (!t.is_cuda()) return host_->AllReduceSum(t);  // small CPU metrics
    Launch(t, "ncclAllReduce", [&](cudaStream_t stream) {
      return ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), NcclType(t), ncclSum, comm_, stream);
    });
  }

  void Broadcast(torch::Tensor& t, int root) override {
    if (!t.is_cuda()) return host_->Broadcast(t, root);
    Launch(t, "ncclBroadcast", [&](cudaStream_t stream) {
      return ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), NcclType(t), root, comm_, stream);
    });
  }

  void ReduceScatter(const torch::Tensor& input, torch::Tensor& output, ReduceOp op) override {
    if (!input.is_cuda() && !output.is_cuda()) return host_->ReduceScatter(input, output, op);
    TORCH_CHECK(input.is_cuda() && output.is_cuda(), "ncclReduceScatter needs both tensors on the GPU");
    CheckScatterShapes(input, output, world_size());
    // ncclAvg divides as it sums: the mean without a second pass over `output`.
    const ncclRedOp_t nccl_op = op == ReduceOp::kMean ? ncclAvg : ncclSum;
    Launch(output, "ncclReduceScatter", [&](cudaStream_t stream) {
      return ncclReduceScatter(input.data_ptr(), output.data_ptr(), output.numel(), NcclType(output), nccl_op, comm_,
                               stream);
    });
  }

  void AllGather(const torch::Tensor& input, torch::Tensor& output) override {
    if (!input.is_cuda() && !output.is_cuda()) return host_->AllGather(input, output);
    TORCH_CHECK(input.is_cuda() && output.is_cuda(), "ncclAllGather needs both tensors on the GPU");
    CheckScatterShapes(output, input, world_size());
    // In place (input is this rank's slice of output) is NCCL's own case.
    Launch(output, "ncclAllGather", [&](cudaStream_t stream) {
      return ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(), NcclType(input), comm_, stream);
    });
  }

  void Barrier() override { host_->Barrier(); }

 private:
  // Enqueues one collective on the current stream and hands it to the watchdog.
  template <typename Enqueue>
  void Launch(const torch::Tensor& t, const char* what, Enqueue enqueue) {
    const std::string aborted = watchdog_.abort_reason();
    TORCH_CHECK(aborted.empty(), "the NCCL communicator was aborted: ", aborted);
    TORCH_CHECK(t.is_contiguous(), "NCCL collectives need contiguous tensors");
    c10::cuda::CUDAGuard guard(device_);
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device_).stream();
    ncclResult_t r = enqueue(stream);
    if (r == ncclInProgress) {
      // Non-blocking: the call returns before NCCL has enqueued the kernel.
      const absl::Status enqueued = WaitUntilDone([this] { return PollComm(comm_); }, absl::Minutes(1), what);
      TORCH_CHECK(enqueued.ok(), enqueued.message());
      r = ncclSuccess;
    }
    TORCH_CHECK(r == ncclSuccess, what, " failed: ", ncclGetErrorString(r));
    auto mark = std::make_shared<StreamMark>(stream);
    watchdog_.Watch(absl::StrCat(what, " of ", t.numel(), " elements"), [this, mark] {
      AsyncPoll comm = PollComm(comm_);
      return comm.state == AsyncState::kFailed ? comm : mark->Poll();
    });
  }

  int device_;
  ncclComm_t comm_;
  std::unique_ptr<Communicator> host_;
  CollectiveWatchdog watchdog_;  // last: its thread stops before the rest is destroyed
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(int device) {
  std::unique_ptr<Communicator> host = MakeMpiCommunicator();
  NcclTimeouts timeouts;
  const absl::Status configured = ReadNcclTimeouts([](const char* name) { return std::getenv(name); }, &timeouts);
  // Rank 0 creates the clique's id; MPI carries it to the others, with
  // whether it could: a rank 0 that failed must not leave the others waiting
  // in the broadcast, and every rank then fails with its message.
  struct IdMessage {
    ncclUniqueId id;
    int32_t result;  // ncclResult_t of ncclGetUniqueId on rank 0
  } message{};
  if (host->rank() == 0) message.result = static_cast<int32_t>(ncclGetUniqueId(&message.id));
  MPI_Bcast(&message, sizeof(message), MPI_BYTE, 0, MPI_COMM_WORLD);
  if (message.result != ncclSuccess) {
    return absl::UnavailableError(absl::StrCat("ncclGetUniqueId on rank 0: ",
                                               ncclGetErrorString(static_cast<ncclResult_t>(message.result))));
  }
  c10::cuda::CUDAGuard guard(device);
  ncclComm_t comm = nullptr;
  absl::Status created = configured;
  if (created.ok()) {
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    const ncclResult_t r = ncclCommInitRankConfig(&comm, host->world_size(), message.id, host->rank(), &config);
    if (r != ncclSuccess && r != ncclInProgress) {
      created = absl::UnavailableError(absl::StrCat("ncclCommInitRankConfig: ", ncclGetErrorString(r)));
    } else {
      created = WaitUntilDone([comm] { return PollComm(comm); }, timeouts.init, "ncclCommInitRankConfig");
    }
  }
  // Every rank learns whether every other one got its communicator (over
  // MPI), so none goes on to wait for a peer in its first collective.
  torch::Tensor failed = torch::zeros({host->world_size()}, torch::kDouble);
  failed[host->rank()] = created.ok() ? 0.0 : 1.0;
  host->AllReduceSum(failed);
  const std::vector<double> by_rank(failed.data_ptr<double>(), failed.data_ptr<double>() + failed.numel());
  const absl::Status agreed = AgreeOnOutcome(by_rank, host->rank(), created, "creating the NCCL communicator");
  if (!agreed.ok()) {
    if (comm != nullptr) ncclCommAbort(comm);
    return agreed;
  }
  return std::unique_ptr<Communicator>(new NcclCommunicator(device, comm, std::move(host), timeouts.collective));
}

}  // namespace align::engine
