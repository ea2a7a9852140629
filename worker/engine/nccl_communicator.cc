// NCCL backend: compiled only in CUDA builds with NCCL (ALIGN_WITH_NCCL).

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>

#include <mpi.h>
#include <nccl.h>
#include <torch/torch.h>

#include <c10/cuda/CUDACachingAllocator.h>
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

  cudaEvent_t event() const { return event_; }

  AsyncPoll Poll() const {
    const cudaError_t e = cudaEventQuery(event_);
    if (e == cudaSuccess) return {AsyncState::kDone, ""};
    if (e == cudaErrorNotReady) return {AsyncState::kPending, ""};
    return {AsyncState::kFailed, cudaGetErrorString(e)};
  }

 private:
  cudaEvent_t event_ = nullptr;
};

// A collective enqueued on the communicator's own stream: Wait() orders the
// waiting thread's current stream after it (it does not block the host, as
// the blocking collectives do not). Its tensors stay referenced until then;
// the caching allocator also knows they are in use on the collective's
// stream (recordStream), so memory freed earlier is not handed out again
// before the collective is done with it.
class NcclPendingCollective : public PendingCollective {
 public:
  NcclPendingCollective(int device, std::shared_ptr<StreamMark> done, std::vector<torch::Tensor> tensors)
      : device_(device), done_(std::move(done)), tensors_(std::move(tensors)) {}
  bool Test() override { return done_->Poll().state != AsyncState::kPending; }
  void Wait() override {
    c10::cuda::CUDAGuard guard(device_);
    const cudaStream_t current = c10::cuda::getCurrentCUDAStream(device_).stream();
    TORCH_CHECK(cudaStreamWaitEvent(current, done_->event(), 0) == cudaSuccess, "cudaStreamWaitEvent failed");
    tensors_.clear();
  }

 private:
  int device_;
  std::shared_ptr<StreamMark> done_;
  std::vector<torch::Tensor> tensors_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int device, ncclComm_t comm, std::unique_ptr<Communicator> host, absl::Duration timeout)
      : device_(device),
        comm_(comm),
        host_(std::move(host)),
        // Collectives started during backward run on a stream of their own,
        // beside the compute stream that goes on with backward.
        collective_stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, device)),
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

  std::unique_ptr<PendingCollective> StartAllReduceSum(torch::Tensor t) override {
    if (!t.is_cuda()) return host_->StartAllReduceSum(t);
    return StartOnCollectiveStream({t}, "ncclAllReduce", [&](cudaStream_t stream) {
      return ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), NcclType(t), ncclSum, comm_, stream);
    });
  }

  std::unique_ptr<PendingCollective> StartReduceScatter(torch::Tensor input, torch::Tensor output,
                                                        ReduceOp op) override {
    if (!input.is_cuda() && !output.is_cuda()) return host_->StartReduceScatter(input, output, op);
    TORCH_CHECK(input.is_cuda() && output.is_cuda(), "ncclReduceScatter needs both tensors on the GPU");
    CheckScatterShapes(input, output, world_size());
    const ncclRedOp_t nccl_op = op == ReduceOp::kMean ? ncclAvg : ncclSum;
    return StartOnCollectiveStream({input, output}, "ncclReduceScatter", [&](cudaStream_t stream) {
      return ncclReduceScatter(input.data_ptr(), output.data_ptr(), output.numel(), NcclType(output), nccl_op,
                               comm_, stream);
    });
  }

 private:
  // Enqueues one collective on the current stream and hands it to the watchdog.
  template <typename Enqueue>
  void Launch(const torch::Tensor& t, const char* what, Enqueue enqueue) {
    TORCH_CHECK(t.is_contiguous(), "NCCL collectives need contiguous tensors");
    c10::cuda::CUDAGuard guard(device_);
    EnqueueWatched(c10::cuda::getCurrentCUDAStream(device_).stream(), t.numel(), what, enqueue);
  }

  // The collective's stream first waits for the work the current stream has
  // queued so far (what produced the tensors), then runs the collective.
  template <typename Enqueue>
  std::unique_ptr<PendingCollective> StartOnCollectiveStream(std::vector<torch::Tensor> tensors, const char* what,
                                                             Enqueue enqueue) {
    for (const torch::Tensor& t : tensors) TORCH_CHECK(t.is_contiguous(), "NCCL collectives need contiguous tensors");
    c10::cuda::CUDAGuard guard(device_);
    const StreamMark produced(c10::cuda::getCurrentCUDAStream(device_).stream());
    TORCH_CHECK(cudaStreamWaitEvent(collective_stream_.stream(), produced.event(), 0) == cudaSuccess,
                "cudaStreamWaitEvent failed");
    std::shared_ptr<StreamMark> done =
        EnqueueWatched(collective_stream_.stream(), tensors.back().numel(), what, enqueue);
    for (const torch::Tensor& t : tensors) {
      c10::cuda::CUDACachingAllocator::recordStream(t.storage().data_ptr(), collective_stream_);
    }
    return std::make_unique<NcclPendingCollective>(device_, std::move(done), std::move(tensors));
  }

  // Enqueues one collective on `stream` and hands it to the watchdog; the
  // mark is done when the collective is.
  template <typename Enqueue>
  std::shared_ptr<StreamMark> EnqueueWatched(cudaStream_t stream, int64_t numel, const char* what, Enqueue enqueue) {
    const std::string aborted = watchdog_.abort_reason();
    TORCH_CHECK(aborted.empty(), "the NCCL communicator was aborted: ", aborted);
    ncclResult_t r = enqueue(stream);
    if (r == ncclInProgress) {
      // Non-blocking: the call returns before NCCL has enqueued the kernel.
      const absl::Status enqueued = WaitUntilDone([this] { return PollComm(comm_); }, absl::Minutes(1), what);
      TORCH_CHECK(enqueued.ok(), enqueued.message());
      r = ncclSuccess;
    }
    TORCH_CHECK(r == ncclSuccess, what, " failed: ", ncclGetErrorString(r));
    auto mark = std::make_shared<StreamMark>(stream);
    watchdog_.Watch(absl::StrCat(what, " of ", numel, " elements"), [this, mark] {
      AsyncPoll comm = PollComm(comm_);
      return comm.state == AsyncState::kFailed ? comm : mark->Poll();
    });
    return mark;
  }

  int device_;
  ncclComm_t comm_;
  std::unique_ptr<Communicator> host_;
  c10::cuda::CUDAStream collective_stream_;
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
