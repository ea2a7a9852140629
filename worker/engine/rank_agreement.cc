#include "worker/engine/rank_agreement.h"

#include <algorithm>
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"

namespace align::engine {
namespace {

// Messages travel as bytes in a fixed-size fp64 tensor (the collectives take fp32/fp64).
constexpr int64_t kMaxMessageBytes = 2048;

}  // namespace

absl::Status AgreeOnFailure(Communicator& comm, const absl::Status& mine) {
  const auto cpu = torch::TensorOptions().dtype(torch::kDouble);
  torch::Tensor failed = torch::zeros({comm.world_size()}, cpu);
  if (!mine.ok()) failed[comm.rank()] = 1.0;
  comm.AllReduceSum(failed);
  const torch::Tensor failing = failed.nonzero();
  if (failing.numel() == 0) return absl::OkStatus();
  const int first = static_cast<int>(failing[0][0].item<int64_t>());

  torch::Tensor message = torch::zeros({kMaxMessageBytes + 1}, cpu);
  if (comm.rank() == first) {
    const std::string text(mine.message().substr(0, kMaxMessageBytes));
    auto bytes = message.accessor<double, 1>();
    bytes[0] = static_cast<double>(text.size());
    for (size_t i = 0; i < text.size(); ++i) bytes[i + 1] = static_cast<unsigned char>(text[i]);
  }
  comm.Broadcast(message, first);
  auto bytes = message.accessor<double, 1>();
  const int64_t length = std::clamp<int64_t>(static_cast<int64_t>(bytes[0]), 0, kMaxMessageBytes);
  std::string text(static_cast<size_t>(length), '\0');
  for (int64_t i = 0; i < length; ++i) text[static_cast<size_t>(i)] = static_cast<char>(bytes[i + 1]);
  return absl::AbortedError(comm.world_size() > 1 ? absl::StrCat("rank ", first, ": ", text) : text);
}

}  // namespace align::engine
