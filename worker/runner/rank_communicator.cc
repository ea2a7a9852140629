#include "worker/runner/rank_communicator.h"

#include <torch/torch.h>

#include "absl/status/status.h"
#include "worker/runner/torch_device.h"
#include "worker/runner/torch_errors.h"

namespace align::runner {

absl::StatusOr<std::unique_ptr<engine::Communicator>> MakeRankCommunicator(const DeviceChoice& device) {
  const torch::Device torch_device = TorchDevice(device);
  std::unique_ptr<engine::Communicator> comm;
  const absl::Status connected = CatchTorchErrors(
      [&] {
        comm = engine::MakeCommunicatorFor(torch_device);
        return absl::OkStatus();
      },
      "setting up the communicator failed: ");
  if (!connected.ok()) return connected;
  return comm;
}

}  // namespace align::runner
