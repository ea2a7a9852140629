#include "worker/prepare/prepare_job.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/types/span.h"
#include "common/dataset/empty_prompt.h"
#include "common/diffusers/dataset_fit.h"
#include "common/diffusers/model_folder.h"
#include "common/diffusers/unet_config.h"
#include "common/file_util.h"
#include "common/prepare/dataset_finish.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/prepare_layout.h"
#include "common/prepare/prepare_report.h"
#include "common/prepare/prepare_state.h"
#include "common/prepare/work_split.h"
#include "common/status_macros.h"
#include "worker/engine/local_rank.h"
#include "worker/models/fp32_precision.h"
#include "worker/prepare/chunk_writer.h"
#include "worker/prepare/pair_encoder.h"

namespace align::prepare {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

torch::Device PickDevice(const std::string& device) {
  if (device == "cuda" || (device == "auto" && torch::cuda::is_available())) {
    const int count = std::max<int>(1, static_cast<int>(torch::cuda::device_count()));
    return torch::Device(torch::kCUDA, static_cast<int>(engine::LocalRank() % count));
  }
  return torch::Device(torch::kCPU);
}

// Warns when the dataset will not fit the model's UNet: preparing is still
// useful (e.g. for another UNet), so this is not an error.
void WarnIfUnetDiffers(const std::string& model_dir, const data::PairShape& shape, std::ostream& out) {
  const std::string path = diffusers::ModelFolder(model_dir).UNetConfigPath();
  if (!fs::exists(path)) return;
  absl::StatusOr<diffusers::UNetConfig> unet = diffusers::LoadUNetConfig(path);
  if (!unet.ok()) return;
  const absl::Status fits = diffusers::CheckPairShapeFitsUNet(shape, *unet);
  if (!fits.ok()) {
    out << "warning: the prepared data does not fit " << path << ": " << fits.message()
        << "; a train job on this model will refuse it\n";
  }
}

}  // namespace

absl::Status RunPrepareJob(const JobSpec& spec, const PrepareContext& context) {
  if (spec.type != JobType::kPrepare || !spec.prepare) return absl::InvalidArgumentError("not a prepare job");
  std::ostream& out = *context.out;
  const bool lead = context.rank == 0;
  const PrepareSpec& p = *spec.prepare;
  const Clock::time_point start = Clock::now();

  // Same index and plan on every rank (and on the coordinator): no
  // communication needed to split the work.
  ASSIGN_OR_RETURN(const PrepareLayout layout, LayOutPrepareJob(spec));
  const InputIndex& index = layout.index;
  const WorkPlan& plan = layout.plan;
  const std::string& state_dir = layout.state_dir;
  const uint64_t fingerprint = layout.fingerprint;
  const bool coordinated = context.assigned_chunks.has_value();

  const bool has_manifest = fs::exists(absl::StrCat(spec.dataset, "/", data::kManifestFile));
  if (has_manifest) {
    // A finished run of this very job is done; any other dataset there is not ours to overwrite.
    if (!PlanStateMatches(state_dir, fingerprint)) {
      return absl::AlreadyExistsError(absl::StrCat(spec.dataset, " already holds a dataset (", data::kManifestFile,
                                                   ") that this job did not write; choose another dataset path"));
    }
    if (lead) out << "already complete: " << spec.dataset << "\n";
    return absl::OkStatus();
  }
  if (lead && !coordinated) {
    out << absl::StrFormat("indexed %d items (%d usable, %d ties, %d malformed) in %.1fs; %d chunks on %d ranks\n",
                           index.total, index.items.size(), index.ties, index.rejected.size(), SecondsSince(start),
                           plan.chunks.size(), context.world);
    RETURN_IF_ERROR(CheckOrWritePlanState(state_dir, fingerprint, plan));
    std::error_code ec;
    fs::create_directories(spec.dataset, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", spec.dataset, ": ", ec.message()));
  }
  context.barrier();
  if (!lead || coordinated) RETURN_IF_ERROR(CheckOrWritePlanState(state_dir, fingerprint, plan));

  const std::vector<size_t> mine =
      coordinated ? *context.assigned_chunks : ChunksOfPart(plan.chunks.size(), context.rank, context.world);
  if (context.should_stop && context.should_stop()) {
    return absl::CancelledError(absl::StrCat("stopped before rank ", context.rank, " started"));
  }
  // Under a coordinator, a rank without chunks (more ranks than unfinished
  // chunks) need not load the models.
  if (coordinated && mine.empty()) return absl::OkStatus();

  const Clock::time_point load_start = Clock::now();
  torch::Device device = PickDevice(spec.device);
  if (device.is_cuda()) models::SetCudaTf32(spec.allow_tf32);
  ASSIGN_OR_RETURN(std::unique_ptr<PairEncoder> encoder, PairEncoder::Load(spec.model, device));
  ASSIGN_OR_RETURN(const data::PairShape shape, encoder->ShapeFor(p.resolution));
  if (lead) {
    out << absl::StrFormat("models loaded in %.1fs on %s\n", SecondsSince(load_start), device.str());
    WarnIfUnetDiffers(spec.model, shape, out);
  }

  {
    // Every rank that encodes writes the same bytes (atomically), so no rank
    // waits for another and a coordinated job needs no extra step.
    const models::TextConditioning empty = encoder->EncodeEmptyPrompt();
    const auto values = [](const torch::Tensor& t) {
      return t.defined() ? absl::Span<const float>(t.data_ptr<float>(), static_cast<size_t>(t.numel()))
                         : absl::Span<const float>();
    };
    RETURN_IF_ERROR(data::WriteEmptyPrompt(spec.dataset, shape, values(empty.prompt_embeds), values(empty.pooled),
                                           context.rank));
  }
  ChunkWriter writer(spec, index, *encoder, shape);
  int shards_written = 0, resumed = 0;
  int64_t pairs_done = 0;
  double busy = 0;
  for (size_t c : mine) {
    if (c >= plan.chunks.size()) {
      return absl::InvalidArgumentError(absl::StrCat("chunk position ", c, " is outside this job's plan of ",
                                                     plan.chunks.size(), " chunks (input changed since planning?)"));
    }
    if (context.should_stop && context.should_stop()) {
      return absl::CancelledError(absl::StrCat("stopped after ", shards_written, " shards on rank ", context.rank));
    }
    const WorkChunk& chunk = plan.chunks[c];
    if (std::optional<ChunkRecord> done = FinishedChunkRecord(spec, layout, chunk)) {
      ++resumed;
      if (context.on_chunk_done) context.on_chunk_done(c, *done);
      continue;
    }
    ASSIGN_OR_RETURN(ChunkRecord record, writer.Prepare(chunk, &shards_written));
    RETURN_IF_ERROR(WriteChunkRecord(state_dir, record));
    if (context.on_chunk_done) context.on_chunk_done(c, record);
    pairs_done += record.pairs;
    busy += record.seconds;
    out << absl::StrFormat("rank %d: %s %d/%d pairs, %d failed, %.2f pairs/s\n", context.rank, chunk.ShardFile(),
                           record.pairs, record.items, record.problems.size(),
                           record.seconds > 0 ? record.pairs / record.seconds : 0.0);
    out.flush();
  }
  if (resumed > 0) out << absl::StrFormat("rank %d: %d chunks already done (resumed)\n", context.rank, resumed);
  out << absl::StrFormat("rank %d: prepared %d pairs in %.1fs (%.2f pairs/s; encoders %.1fs of which VAE %.1fs, waiting "
                         "for images %.1fs)\n",
                         context.rank, pairs_done, busy, busy > 0 ? pairs_done / busy : 0.0, writer.encode_seconds(),
                         writer.vae_seconds(), writer.input_wait_seconds());
  if (coordinated) return absl::OkStatus();
  context.barrier();
  if (!lead) return absl::OkStatus();
  ASSIGN_OR_RETURN(const PrepareReport report, FinishPreparedDataset(spec, layout));
  out << absl::StrFormat("items %d: pairs train %d, heldout %d; ties %d, swapped %d, failed %d (%.2f%%)\n",
                         report.total, report.pairs.at("train"), report.pairs.at("heldout"), report.ties,
                         report.swapped, report.failed, 100 * report.error_ratio);
  if (!report.ok()) return absl::FailedPreconditionError(FailureMessage(report));
  out << absl::StrFormat("done: %s in %.1fs\n", spec.dataset, SecondsSince(start));
  return absl::OkStatus();
}

}  // namespace align::prepare
