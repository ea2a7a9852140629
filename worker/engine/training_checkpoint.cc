#include "worker/engine/training_checkpoint.h"

#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/safetensors/sharded_weights.h"
#include "common/status_macros.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"

namespace align::engine {
namespace {

namespace fs = std::filesystem;

constexpr char kOptimizerFile[] = "optimizer.safetensors";
constexpr char kTrainerStateFile[] = "trainer_state.json";

// The UNet inside a checkpoint folder, named as in a diffusers model folder.
fs::path UNetDir(const fs::path& checkpoint_dir) {
  return checkpoint_dir / std::string(diffusers::ComponentName(diffusers::Component::kUNet));
}

absl::Status StaleWriterError(const fs::path& final_dir) {
  return absl::FailedPreconditionError(
      absl::StrCat(final_dir.string(),
                   " exists already: another attempt of this job wrote it (one of the two lost the job to the "
                   "other); not replacing it"));
}

}  // namespace

std::string TrainingCheckpoint::Dir(const std::string& output, int64_t step) {
  return (fs::path(output) / absl::StrCat("checkpoint-", step)).string();
}

std::optional<TrainingCheckpoint> TrainingCheckpoint::FindLatest(const std::string& output) {
  std::error_code ec;
  if (!fs::is_directory(output, ec)) return std::nullopt;
  static const std::regex kName("checkpoint-([0-9]+)");
  std::optional<TrainingCheckpoint> best;
  for (const auto& entry : fs::directory_iterator(output, ec)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || !std::regex_match(name, m, kName)) continue;
    if (!fs::exists(entry.path() / kTrainerStateFile)) continue;
    const int64_t step = std::stoll(m[1]);
    if (!best || step > best->step_) best = TrainingCheckpoint(step, entry.path().string());
  }
  return best;
}

absl::Status TrainingCheckpoint::Write(const std::string& output, int64_t step, models::UNet2DConditionModel& unet,
                                       const std::map<std::string, torch::Tensor>& optimizer_state,
                                       const nlohmann::json& trainer_state) {
  const ModelWriter write_unet = [&unet](const std::string& dir) {
    return models::SaveUNet(unet, UNetDir(dir).string(), torch::kFloat);
  };
  return WriteWith(output, step, write_unet, optimizer_state, trainer_state);
}

absl::Status TrainingCheckpoint::WriteWith(const std::string& output, int64_t step, const ModelWriter& write_model,
                                           const std::map<std::string, torch::Tensor>& optimizer_state,
                                           const nlohmann::json& trainer_state) {
  const fs::path final_dir = Dir(output, step);
  // Every writer its own partial folder: two groups writing the same step (one
  // of them stale) never share, nor delete, each other's files.
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  const fs::path partial = absl::StrCat(final_dir.string(), ".partial-", host, "-", ::getpid());
  std::error_code ec;
  if (fs::exists(final_dir, ec)) return StaleWriterError(final_dir);
  fs::remove_all(partial, ec);
  fs::create_directories(partial, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", partial.string(), ": ", ec.message()));
  RETURN_IF_ERROR(write_model(partial.string()));
  RETURN_IF_ERROR(models::WriteTensors((partial / kOptimizerFile).string(), optimizer_state));
  RETURN_IF_ERROR(WriteFileAtomically((partial / kTrainerStateFile).string(), trainer_state.dump(2) + "\n"));
  // rename(2) does not replace a non-empty folder: of two writers of one
  // step, the second fails here whatever the timing.
  if (::rename(partial.c_str(), final_dir.c_str()) != 0) {
    const int error = errno;
    fs::remove_all(partial, ec);
    if (error == ENOTEMPTY || error == EEXIST) return StaleWriterError(final_dir);
    return absl::InternalError(
        absl::StrCat("cannot rename ", partial.string(), " to ", final_dir.string(), ": ", std::strerror(error)));
  }
  return absl::OkStatus();
}

std::string TrainingCheckpoint::WrittenByJob() const {
  std::ifstream in(fs::path(dir_) / kTrainerStateFile);
  const nlohmann::json state = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!state.is_object() || !state.contains("job_id") || !state["job_id"].is_string()) return "";
  return state["job_id"].get<std::string>();
}

absl::Status TrainingCheckpoint::CheckMayResume(const std::string& job_id, ResumePolicy policy) const {
  if (policy == ResumePolicy::kAny || job_id.empty()) return absl::OkStatus();
  const std::string writer = WrittenByJob();
  if (writer.empty() || writer == job_id) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "output holds ", dir_, ", written by ", writer, ", not by this job (", job_id,
      "): two jobs would mix their runs in one folder; give this job its own output, or set `resume: any` to "
      "continue that run"));
}

absl::Status TrainingCheckpoint::LoadUNetWeights(models::UNet2DConditionModel& unet) const {
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(UNetDir(dir_).string(), diffusers::kDiffusersWeightsBase));
  return models::LoadParameters(*unet, weights);
}

absl::StatusOr<std::map<std::string, torch::Tensor>> TrainingCheckpoint::ReadOptimizerState() const {
  return models::ReadTensors((fs::path(dir_) / kOptimizerFile).string());
}

}  // namespace align::engine
