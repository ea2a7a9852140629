// NCCL backend: compiled only in CUDA builds with NCCL (ALIGN_WITH_NCCL).

#include <cstdint>
#include <memory>
#include <string>

#include <mpi.h>
#include <nccl.h>
#include <torch/torch.h>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "absl/strings/str_cat.h"
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

void Check(ncclResult_t result, const char* what) {
  TORCH_CHECK(result == ncclSuccess, what, " failed: ", ncclGetErrorString(result));
}

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(int device, ncclComm_t comm, std::unique_ptr<Communicator> host)
      : device_(device), comm_(comm), host_(std::move(host)) {}
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }

  int rank() const override { return host_->rank(); }
  int world_size() const override { return host_->world_size(); }
  std::string backend() const override { return "nccl"; }

  void AllReduceSum(torch::Tensor& t) override {
    if (!t.is_cuda()) return host_->AllReduceSum(t);  // small CPU metrics
    TORCH_CHECK(t.is_contiguous(), "NCCL collectives need contiguous tensors");
    c10::cuda::CUDAGuard guard(device_);
    Check(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), NcclType(t), ncclSum, comm_,
                        c10::cuda::getCurrentCUDAStream(device_).stream()),
          "ncclAllReduce");
  }

  void Broadcast(torch::Tensor& t, int root) override {
    if (!t.is_cuda()) return host_->Broadcast(t, root);
    TORCH_CHECK(t.is_contiguous(), "NCCL collectives need contiguous tensors");
    c10::cuda::CUDAGuard guard(device_);
    Check(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), NcclType(t), root, comm_,
                        c10::cuda::getCurrentCUDAStream(device_).stream()),
          "ncclBroadcast");
  }

  void Barrier() override { host_->Barrier(); }

 private:
  int device_;
  ncclComm_t comm_;
  std::unique_ptr<Communicator> host_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Communicator>> MakeNcclCommunicator(int device) {
  std::unique_ptr<Communicator> host = MakeMpiCommunicator();
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
  const ncclUniqueId& id = message.id;
  c10::cuda::CUDAGuard guard(device);
  ncclComm_t comm;
  ncclResult_t r = ncclCommInitRank(&comm, host->world_size(), id, host->rank());
  if (r != ncclSuccess) return absl::UnavailableError(absl::StrCat("ncclCommInitRank: ", ncclGetErrorString(r)));
  return std::unique_ptr<Communicator>(new NcclCommunicator(device, comm, std::move(host)));
}

}  // namespace align::engine
