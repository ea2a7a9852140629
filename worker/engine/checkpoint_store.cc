#include "worker/engine/checkpoint_store.h"

#include <torch/torch.h>

#include <filesystem>
#include <regex>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"

namespace align::engine {
namespace fs = std::filesystem;

std::optional<CheckpointContents> FindLatestCheckpoint(const std::string& output) {
  std::error_code ec;
  if (!fs::is_directory(output, ec)) return std::nullopt;
  static const std::regex kName("checkpoint-([0-9]+)");
  std::optional<CheckpointContents> best;
  for (const auto& entry : fs::directory_iterator(output, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(name, m, kName)) continue;
    if (!fs::exists(entry.path() / "trainer_state.json")) continue;
    const int64_t step = std::stoll(m[1]);
    if (!best || step > best->step) best = CheckpointContents{step, entry.path().string()};
  }
  return best;
}

absl::Status WriteTrainingCheckpoint(const std::string& output, int64_t step, models::UNet2DConditionModel& unet,
                                     const std::map<std::string, torch::Tensor>& optimizer_state,
                                     const nlohmann::json& trainer_state) {
  const fs::path final_dir = fs::path(output) / absl::StrCat("checkpoint-", step);
  const fs::path partial = fs::path(output) / absl::StrCat("checkpoint-", step, ".partial");
  std::error_code ec;
  fs::remove_all(partial, ec);
  fs::create_directories(partial, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", partial.string(), ": ", ec.message()));
  RETURN_IF_ERROR(models::SaveUNet(unet, (partial / "unet").string(), torch::kFloat));
  RETURN_IF_ERROR(models::WriteTensors((partial / "optimizer.safetensors").string(), optimizer_state));
  RETURN_IF_ERROR(WriteFileAtomically((partial / "trainer_state.json").string(), trainer_state.dump(2) + "\n"));
  fs::remove_all(final_dir, ec);
  fs::rename(partial, final_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", partial.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadOptimizerState(const std::string& checkpoint_dir) {
  return models::ReadTensors(checkpoint_dir + "/optimizer.safetensors");
}

}  // namespace align::engine
