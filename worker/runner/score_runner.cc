#include "worker/runner/score_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/score_layout.h"
#include "common/file_util.h"
#include "common/imaging/decode_image.h"
#include "common/status_macros.h"
#include "worker/reward/reward_model.h"
#include "worker/runner/chunked_runner.h"
#include "worker/runner/torch_device.h"

namespace align::runner {
namespace {

class ScoreProcessor : public ChunkProcessor {
 public:
  ScoreProcessor(JobSpec spec, curriculum::ScoreLayout layout, std::unique_ptr<reward::RewardModel> model)
      : spec_(std::move(spec)), layout_(std::move(layout)), model_(std::move(model)) {}

  absl::StatusOr<int64_t> Process(int64_t position) override {
    if (position < 0 || position >= layout_.num_chunks()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", position, " is outside the plan of ", layout_.num_chunks(), " chunks"));
    }
    const int64_t first = layout_.FirstItem(position), end = layout_.EndItem(position);
    if (curriculum::FinishedScoreChunk(layout_, position)) return end - first;
    const auto started = std::chrono::steady_clock::now();
    curriculum::ScoreChunkRecord record;
    record.chunk = position;
    record.fingerprint = absl::StrFormat("%016x", layout_.fingerprint);
    for (int64_t from = first; from < end; from += spec_.score->batch_size) {
      const int64_t to = std::min(end, from + spec_.score->batch_size);
      std::vector<imaging::RgbImage> images;
      std::vector<std::string> prompts;
      for (int64_t i = from; i < to; ++i) {
        const curriculum::ScoreItem& item = layout_.items[i];
        absl::StatusOr<std::string> bytes = ReadFileToString(item.image_path);
        if (!bytes.ok()) return absl::NotFoundError(absl::StrCat(item.image_path, ": ", bytes.status().message()));
        absl::StatusOr<imaging::RgbImage> image = imaging::DecodeImage(*bytes, item.image_path);
        if (!image.ok()) return image.status();
        images.push_back(*std::move(image));
        prompts.push_back(item.prompt);
      }
      ASSIGN_OR_RETURN(const std::vector<double> scores, model_->Score(images, prompts));
      record.scores.insert(record.scores.end(), scores.begin(), scores.end());
    }
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    RETURN_IF_ERROR(curriculum::WriteScoreChunkRecord(layout_, record));
    return end - first;
  }

 private:
  const JobSpec spec_;
  const curriculum::ScoreLayout layout_;
  const std::unique_ptr<reward::RewardModel> model_;
};

}  // namespace

std::unique_ptr<control::WorkerJobKind> MakeScoreWorkerKind(DeviceChoice device) {
  return std::make_unique<ChunkedWorkerKind>(
      JobType::kScore, [device](const control::JobTicket& ticket) -> absl::StatusOr<std::unique_ptr<ChunkProcessor>> {
        DeviceChoice job_device;
        ASSIGN_OR_RETURN(JobSpec spec, SpecOnJobDevice(device, ticket.spec, &job_device));
        ASSIGN_OR_RETURN(curriculum::ScoreLayout layout, curriculum::LayOutScoreJob(spec));
        ASSIGN_OR_RETURN(std::unique_ptr<reward::RewardModel> model,
                         reward::LoadRewardModel(spec.score->reward, spec.score->reward_model, TorchDevice(job_device)));
        return std::unique_ptr<ChunkProcessor>(
            std::make_unique<ScoreProcessor>(std::move(spec), std::move(layout), std::move(model)));
      });
}

}  // namespace align::runner
