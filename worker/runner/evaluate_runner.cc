#include "worker/runner/evaluate_runner.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/file_util.h"
#include "common/imaging/encode_image.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"
#include "worker/models/lora_io.h"
#include "worker/models/unet_io.h"
#include "worker/reward/clip_image_embedder.h"
#include "worker/reward/reward_model.h"
#include "worker/runner/chunked_runner.h"
#include "worker/runner/torch_device.h"
#include "worker/sampling/image_pipeline.h"

namespace align::runner {
namespace {

namespace fs = std::filesystem;

struct LoadedReward {
  std::string name;
  std::unique_ptr<reward::RewardModel> model;
};

class EvaluateProcessor : public ChunkProcessor {
 public:
  EvaluateProcessor(JobSpec spec, evaluation::EvaluateLayout layout, torch::Device device,
                    std::vector<LoadedReward> rewards, std::unique_ptr<reward::ClipImageEmbedder> embedder)
      : spec_(std::move(spec)),
        layout_(std::move(layout)),
        device_(device),
        rewards_(std::move(rewards)),
        embedder_(std::move(embedder)) {}

  absl::StatusOr<int64_t> Process(int64_t position) override {
    if (position < 0 || position >= layout_.num_chunks()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", position, " is outside the plan of ", layout_.num_chunks(), " chunks"));
    }
    const int64_t images = layout_.ImagesIn(position);
    if (evaluation::FinishedEvaluateChunk(layout_, position)) return images;
    const auto started = std::chrono::steady_clock::now();
    const int checkpoint = layout_.CheckpointOf(position);
    ASSIGN_OR_RETURN(sampling::ImagePipeline * pipeline, PipelineFor(checkpoint));
    const SamplingSpec& sampling = spec_.evaluate->sampling;

    evaluation::EvaluateChunkRecord record;
    record.chunk = position;
    record.fingerprint = absl::StrFormat("%016x", layout_.fingerprint);
    record.checkpoint = layout_.checkpoints[checkpoint].name;
    record.embeddings = layout_.EmbeddingsFile(position);
    std::vector<std::pair<int64_t, int64_t>> samples;  // (prompt, seed), in sample-id order
    for (int64_t p = layout_.FirstPrompt(position); p < layout_.EndPrompt(position); ++p) {
      for (int64_t k = 0; k < layout_.seeds; ++k) samples.emplace_back(p, k);
    }
    std::error_code ec;
    fs::create_directories(fs::path(layout_.output) / "images" / record.checkpoint, ec);
    fs::create_directories(fs::path(layout_.output) / "embeddings", ec);
    std::vector<torch::Tensor> embeddings;
    for (size_t from = 0; from < samples.size(); from += sampling.batch_size) {
      const size_t to = std::min(samples.size(), from + static_cast<size_t>(sampling.batch_size));
      sampling::GenerationRequest request = sampling::RequestFor(sampling, spec_.seed);
      for (size_t i = from; i < to; ++i) {
        request.prompts.push_back(layout_.prompts[samples[i].first]);
        request.sample_ids.push_back(layout_.SampleId(samples[i].first, samples[i].second));
      }
      ASSIGN_OR_RETURN(sampling::GeneratedBatch batch, pipeline->Generate(request));
      std::vector<std::vector<double>> scores;
      for (LoadedReward& reward : rewards_) {
        ASSIGN_OR_RETURN(std::vector<double> s, reward.model->Score(batch.images, request.prompts));
        scores.push_back(std::move(s));
      }
      ASSIGN_OR_RETURN(torch::Tensor embedded, embedder_->Embed(batch.images));
      for (size_t i = from; i < to; ++i) {
        const auto [prompt, seed] = samples[i];
        const std::string file = layout_.ImageFile(checkpoint, prompt, seed);
        ASSIGN_OR_RETURN(const std::string bytes, imaging::EncodePng(batch.images[i - from]));
        RETURN_IF_ERROR(WriteFileAtomically((fs::path(layout_.output) / file).string(), bytes));
        evaluation::EvaluatedImage image{prompt, seed, file, {}, static_cast<int64_t>(i)};
        for (size_t r = 0; r < rewards_.size(); ++r) {
          if (!std::isfinite(scores[r][i - from])) {
            return absl::InternalError(absl::StrCat(rewards_[r].name, " gave a non-finite score to ", file));
          }
          image.scores[rewards_[r].name] = scores[r][i - from];
        }
        record.images.push_back(std::move(image));
      }
      embeddings.push_back(embedded.to(torch::kCPU, torch::kFloat).contiguous());
    }
    const torch::Tensor all = torch::cat(embeddings).contiguous();
    safetensors::Writer writer;
    RETURN_IF_ERROR(writer.Add("embeddings", safetensors::DType::kF32, all.sizes().vec(), all.data_ptr<float>(),
                               all.numel() * sizeof(float)));
    RETURN_IF_ERROR(writer.WriteFile((fs::path(layout_.output) / record.embeddings).string()));
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    RETURN_IF_ERROR(evaluation::WriteEvaluateChunkRecord(layout_, record));
    return images;
  }

 private:
  // One checkpoint's pipeline at a time: the one before is freed first.
  absl::StatusOr<sampling::ImagePipeline*> PipelineFor(int checkpoint) {
    if (pipeline_ && pipeline_checkpoint_ == checkpoint) return pipeline_.get();
    pipeline_.reset();
    const EvaluateCheckpoint& entry = layout_.checkpoints[checkpoint];
    absl::StatusOr<std::unique_ptr<sampling::ImagePipeline>> loaded = LoadPipeline(entry);
    if (!loaded.ok()) {
      return absl::Status(loaded.status().code(),
                          absl::StrCat("checkpoint \"", entry.name, "\": ", loaded.status().message()));
    }
    pipeline_ = *std::move(loaded);
    pipeline_checkpoint_ = checkpoint;
    return pipeline_.get();
  }

  absl::StatusOr<std::unique_ptr<sampling::ImagePipeline>> LoadPipeline(const EvaluateCheckpoint& entry) {
    sampling::ImagePipelineOptions options;
    options.dtype = spec_.precision == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat;
    if (!entry.unet.empty()) options.unet_dir = evaluation::UNetFolderOf(entry);
    if (!entry.lora.empty()) {
      // The UNet with its adapters, unmerged and in the UNet's dtype, as
      // diffusers' load_lora_weights leaves a pipeline.
      ASSIGN_OR_RETURN(options.unet, models::LoadUNet(evaluation::UNetFolderOf(entry),
                                                      torch::TensorOptions().dtype(options.dtype).device(device_)));
      absl::StatusOr<models::LoraWeights> weights = models::ReadLoraWeights(entry.lora);
      const absl::Status attached = weights.ok() ? models::AttachLoraWeights(options.unet, *weights) : weights.status();
      if (!attached.ok()) return absl::Status(attached.code(), absl::StrCat("lora: ", attached.message()));
      options.unet->to(options.dtype);
      options.unet->eval();
    }
    return sampling::ImagePipeline::Load(entry.model, device_, options);
  }

  const JobSpec spec_;
  const evaluation::EvaluateLayout layout_;
  const torch::Device device_;
  std::vector<LoadedReward> rewards_;
  std::unique_ptr<reward::ClipImageEmbedder> embedder_;
  std::unique_ptr<sampling::ImagePipeline> pipeline_;
  int pipeline_checkpoint_ = -1;
};

}  // namespace

std::unique_ptr<control::WorkerJobKind> MakeEvaluateWorkerKind(DeviceChoice device) {
  return std::make_unique<ChunkedWorkerKind>(
      JobType::kEvaluate,
      [device](const control::JobTicket& ticket) -> absl::StatusOr<std::unique_ptr<ChunkProcessor>> {
        DeviceChoice job_device;
        ASSIGN_OR_RETURN(JobSpec spec, SpecOnJobDevice(device, ticket.spec, &job_device));
        ASSIGN_OR_RETURN(evaluation::EvaluateLayout layout, evaluation::LayOutEvaluateJob(spec));
        const torch::Device torch_device = TorchDevice(job_device);
        std::vector<LoadedReward> rewards;
        for (const EvaluateReward& reward : spec.evaluate->rewards) {
          ASSIGN_OR_RETURN(std::unique_ptr<reward::RewardModel> model,
                           reward::LoadRewardModel(reward.reward, reward.model, torch_device));
          rewards.push_back({std::string(RewardNameString(reward.reward)), std::move(model)});
        }
        ASSIGN_OR_RETURN(std::unique_ptr<reward::ClipImageEmbedder> embedder,
                         reward::ClipImageEmbedder::Load(spec.evaluate->embedder, torch_device));
        return std::unique_ptr<ChunkProcessor>(std::make_unique<EvaluateProcessor>(
            std::move(spec), std::move(layout), torch_device, std::move(rewards), std::move(embedder)));
      });
}

}  // namespace align::runner
