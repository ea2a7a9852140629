#include "worker/runner/generate_runner.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/generate_layout.h"
#include "common/file_util.h"
#include "common/imaging/encode_image.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"
#include "worker/runner/chunked_runner.h"
#include "worker/runner/torch_device.h"
#include "worker/sampling/image_pipeline.h"

namespace align::runner {
namespace {

namespace fs = std::filesystem;

// `tensor` (any device, float) as an F32 safetensors entry.
absl::Status AddF32(safetensors::Writer& writer, const std::string& name, const torch::Tensor& tensor) {
  const torch::Tensor cpu = tensor.to(torch::kCPU, torch::kFloat).contiguous();
  return writer.Add(name, safetensors::DType::kF32, cpu.sizes().vec(), cpu.data_ptr<float>(),
                    cpu.numel() * sizeof(float));
}

absl::Status AddI64(safetensors::Writer& writer, const std::string& name, const std::vector<int64_t>& values) {
  return writer.Add(name, safetensors::DType::kI64, {static_cast<int64_t>(values.size())}, values.data(),
                    values.size() * sizeof(int64_t));
}

class GenerateProcessor : public ChunkProcessor {
 public:
  GenerateProcessor(JobSpec spec, curriculum::GenerateLayout layout, std::unique_ptr<sampling::ImagePipeline> pipeline)
      : spec_(std::move(spec)), layout_(std::move(layout)), pipeline_(std::move(pipeline)) {}

  absl::StatusOr<int64_t> Process(int64_t position) override {
    if (position < 0 || position >= layout_.num_chunks()) {
      return absl::InvalidArgumentError(
          absl::StrCat("chunk ", position, " is outside the plan of ", layout_.num_chunks(), " chunks"));
    }
    const int64_t first = layout_.FirstPrompt(position), end = layout_.EndPrompt(position);
    const int64_t images = (end - first) * layout_.samples_per_prompt;
    if (curriculum::FinishedGenerateChunk(layout_, position)) return images;
    const auto started = std::chrono::steady_clock::now();
    const GenerateSpec& g = *spec_.generate;

    // Every (prompt, sample) of the chunk, in sample-id order, in batches.
    curriculum::GenerateChunkRecord record;
    record.chunk = position;
    record.fingerprint = absl::StrFormat("%016x", layout_.fingerprint);
    record.latents = layout_.LatentsFile(position);
    std::vector<std::pair<int64_t, int64_t>> samples;  // (prompt, sample)
    for (int64_t p = first; p < end; ++p) {
      for (int64_t s = 0; s < layout_.samples_per_prompt; ++s) samples.emplace_back(p, s);
    }
    std::error_code ec;
    fs::create_directories(fs::path(layout_.output) / "images", ec);
    fs::create_directories(fs::path(layout_.output) / "latents", ec);
    std::vector<torch::Tensor> latents;
    std::vector<int64_t> sample_ids;
    for (size_t from = 0; from < samples.size(); from += g.sampling.batch_size) {
      const size_t to = std::min(samples.size(), from + static_cast<size_t>(g.sampling.batch_size));
      sampling::GenerationRequest request = sampling::RequestFor(g.sampling, spec_.seed);
      for (size_t k = from; k < to; ++k) {
        request.prompts.push_back(layout_.prompts[samples[k].first]);
        request.sample_ids.push_back(layout_.SampleId(samples[k].first, samples[k].second));
      }
      ASSIGN_OR_RETURN(sampling::GeneratedBatch batch, pipeline_->Generate(request));
      for (size_t k = from; k < to; ++k) {
        const auto [prompt, sample] = samples[k];
        const std::string file = layout_.ImageFile(prompt, sample);
        const imaging::RgbImage& image = batch.images[k - from];
        ASSIGN_OR_RETURN(const std::string bytes, g.image_format == ImageFileFormat::kJpeg
                                                      ? imaging::EncodeJpeg(image, static_cast<int>(g.jpeg_quality))
                                                      : imaging::EncodePng(image));
        RETURN_IF_ERROR(WriteFileAtomically((fs::path(layout_.output) / file).string(), bytes));
        record.images.push_back({prompt, sample, request.sample_ids[k - from], file,
                                 static_cast<int64_t>(sample_ids.size())});
        sample_ids.push_back(request.sample_ids[k - from]);
      }
      latents.push_back(batch.latents);
    }

    // The chunk's prompts' conditioning, as a pairs job stores it per pair.
    std::vector<std::string> prompts(layout_.prompts.begin() + first, layout_.prompts.begin() + end);
    std::vector<int64_t> prompt_indices;
    for (int64_t p = first; p < end; ++p) prompt_indices.push_back(p);
    const models::TextConditioning text = pipeline_->text().Encode(prompts);
    const torch::Tensor time_ids =
        sampling::ImagePipeline::TimeIds(g.sampling.height, g.sampling.width).expand({end - first, 6});
    safetensors::Writer writer;
    RETURN_IF_ERROR(AddF32(writer, "latents", torch::cat(latents)));
    RETURN_IF_ERROR(AddI64(writer, "sample_ids", sample_ids));
    RETURN_IF_ERROR(AddI64(writer, "prompt_indices", prompt_indices));
    RETURN_IF_ERROR(AddF32(writer, "prompt_embeds", text.prompt_embeds));
    if (text.pooled.defined()) RETURN_IF_ERROR(AddF32(writer, "pooled_prompt_embeds", text.pooled));
    RETURN_IF_ERROR(AddF32(writer, "time_ids", time_ids));
    // "" through the same encoders, which a pairs job stores with its dataset
    // for train jobs' prompt dropout (as a prepare job does).
    const models::TextConditioning empty = pipeline_->text().Encode({""});
    RETURN_IF_ERROR(AddF32(writer, std::string(curriculum::kEmptyPromptEmbeds), empty.prompt_embeds));
    if (empty.pooled.defined()) {
      RETURN_IF_ERROR(AddF32(writer, std::string(curriculum::kEmptyPooledPromptEmbeds), empty.pooled));
    }
    RETURN_IF_ERROR(writer.WriteFile((fs::path(layout_.output) / record.latents).string()));
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    RETURN_IF_ERROR(curriculum::WriteGenerateChunkRecord(layout_, record));
    return images;
  }

 private:
  const JobSpec spec_;
  const curriculum::GenerateLayout layout_;
  const std::unique_ptr<sampling::ImagePipeline> pipeline_;
};

}  // namespace

std::unique_ptr<control::WorkerJobKind> MakeGenerateWorkerKind(DeviceChoice device) {
  return std::make_unique<ChunkedWorkerKind>(
      JobType::kGenerate,
      [device](const control::JobTicket& ticket) -> absl::StatusOr<std::unique_ptr<ChunkProcessor>> {
        DeviceChoice job_device;
        ASSIGN_OR_RETURN(JobSpec spec, SpecOnJobDevice(device, ticket.spec, &job_device));
        ASSIGN_OR_RETURN(curriculum::GenerateLayout layout, curriculum::LayOutGenerateJob(spec));
        sampling::ImagePipelineOptions options;
        options.dtype = spec.precision == Precision::kBf16 ? torch::kBFloat16 : torch::kFloat;
        ASSIGN_OR_RETURN(std::unique_ptr<sampling::ImagePipeline> pipeline,
                         sampling::ImagePipeline::Load(spec.model, TorchDevice(job_device), options));
        return std::unique_ptr<ChunkProcessor>(
            std::make_unique<GenerateProcessor>(std::move(spec), std::move(layout), std::move(pipeline)));
      });
}

}  // namespace align::runner
