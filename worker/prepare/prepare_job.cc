#include "worker/prepare/prepare_job.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/dataset/manifest_merge.h"
#include "common/file_util.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/input_index.h"
#include "common/prepare/prepare_report.h"
#include "common/prepare/prepare_state.h"
#include "common/prepare/work_split.h"
#include "common/status_macros.h"
#include "worker/engine/local_rank.h"
#include "worker/models/unet_config.h"
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
  const std::string path = model_dir + "/unet/config.json";
  if (!fs::exists(path)) return;
  absl::StatusOr<models::UNetConfig> unet = models::LoadUNetConfig(path);
  if (!unet.ok()) return;
  const int64_t pooled = unet->text_time_embedding ? unet->pooled_text_dim() : 0;
  if (unet->cross_attention_dim != shape.context_dim || pooled != shape.pooled_dim ||
      unet->in_channels != shape.latent_channels) {
    out << absl::StrFormat(
        "warning: the prepared data (latent_channels %d, context_dim %d, pooled_dim %d) does not fit %s "
        "(in_channels %d, cross_attention_dim %d, pooled %d); a train job on this model will refuse it\n",
        shape.latent_channels, shape.context_dim, shape.pooled_dim, path, unet->in_channels,
        unet->cross_attention_dim, pooled);
  }
}

nlohmann::json Provenance(const JobSpec& spec, const PrepareReport& report) {
  const PrepareSpec& p = *spec.prepare;
  return {{"tool", "align-worker prepare"},
          {"job", spec.name},
          {"input", p.input},
          {"format", p.format == PrepareFormat::kJsonl ? "jsonl" : "webdataset"},
          {"model", spec.model},
          {"resolution", p.resolution},
          {"center_crop", p.center_crop},
          {"random_flip", p.random_flip},
          {"latent", p.latent == LatentMode::kMean ? "mean" : "sample"},
          {"seed", spec.seed},
          {"items", report.total},
          {"ties", report.ties},
          {"failed", report.failed}};
}

// Rank 0, after every rank is done: report, then (if good enough) manifest.
absl::Status Finish(const JobSpec& spec, const InputIndex& index, const WorkPlan& plan, const data::PairShape& shape,
                    const std::string& state_dir, std::ostream& out) {
  std::vector<ChunkRecord> records;
  for (const WorkChunk& chunk : plan.chunks) {
    std::optional<ChunkRecord> record = ReadChunkRecord(state_dir, chunk);
    if (!record) {
      return absl::InternalError(absl::StrCat("chunk ", chunk.RecordFile(), " has no record after every rank finished"));
    }
    records.push_back(std::move(*record));
  }
  const PrepareReport report = BuildReport(index, records, spec.prepare->max_error_ratio);
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(spec.output, "/", kReportFile),
                                      ReportToJson(report).dump(1, ' ', false,
                                                                nlohmann::json::error_handler_t::replace) + "\n"));
  out << absl::StrFormat("items %d: pairs train %d, heldout %d; ties %d, swapped %d, failed %d (%.2f%%)\n",
                         report.total, report.pairs.at("train"), report.pairs.at("heldout"), report.ties,
                         report.swapped, report.failed, 100 * report.error_ratio);
  if (!report.ok()) return absl::FailedPreconditionError(FailureMessage(report));

  data::MergeRequest merge;
  merge.shape = shape;
  merge.splits = {{"train", {}}, {"heldout", {}}};
  for (const ChunkRecord& record : records) {
    if (!record.shard.empty()) merge.splits[record.split].push_back(record.shard);
  }
  merge.source = Provenance(spec, report);
  RETURN_IF_ERROR(data::WriteMergedManifest(spec.dataset, merge).status());
  // Shards a killed rank left half-written (never renamed into place).
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(spec.dataset, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() > 16 && name.compare(name.size() - 16, 16, ".safetensors.tmp") == 0) fs::remove(entry.path(), ec);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RunPrepareJob(const JobSpec& spec, const PrepareContext& context) {
  if (spec.type != JobType::kPrepare || !spec.prepare) return absl::InvalidArgumentError("not a prepare job");
  std::ostream& out = *context.out;
  const bool lead = context.rank == 0;
  const PrepareSpec& p = *spec.prepare;
  const Clock::time_point start = Clock::now();

  // Same index and plan on every rank: no communication needed to split the work.
  ASSIGN_OR_RETURN(const InputIndex index, BuildInputIndex(p));
  const std::vector<int64_t> ids = [&] {
    std::vector<int64_t> v;
    for (const PairItem& item : index.items) v.push_back(item.id);
    return v;
  }();
  const WorkPlan plan = PlanWork(ids, {p.heldout_fraction, p.heldout}, p.pairs_per_shard, spec.seed);
  const std::string state_dir = absl::StrCat(spec.output, "/", kStateDir);
  const uint64_t fingerprint = PlanFingerprint(spec, index, plan);

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
  if (lead) {
    out << absl::StrFormat("indexed %d items (%d usable, %d ties, %d malformed) in %.1fs; %d chunks on %d ranks\n",
                           index.total, index.items.size(), index.ties, index.rejected.size(), SecondsSince(start),
                           plan.chunks.size(), context.world);
    RETURN_IF_ERROR(CheckOrWritePlanState(state_dir, fingerprint, plan));
    std::error_code ec;
    fs::create_directories(spec.dataset, ec);
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", spec.dataset, ": ", ec.message()));
  }
  context.barrier();
  if (!lead) RETURN_IF_ERROR(CheckOrWritePlanState(state_dir, fingerprint, plan));

  const Clock::time_point load_start = Clock::now();
  torch::Device device = PickDevice(spec.device);
  ASSIGN_OR_RETURN(std::unique_ptr<PairEncoder> encoder, PairEncoder::Load(spec.model, device));
  ASSIGN_OR_RETURN(const data::PairShape shape, encoder->ShapeFor(p.resolution));
  if (lead) {
    out << absl::StrFormat("models loaded in %.1fs on %s\n", SecondsSince(load_start), device.str());
    WarnIfUnetDiffers(spec.model, shape, out);
  }

  ChunkWriter writer(spec, index, *encoder, shape);
  int shards_written = 0, resumed = 0;
  int64_t pairs_done = 0;
  double busy = 0;
  for (size_t c : ChunksOfPart(plan.chunks.size(), context.rank, context.world)) {
    const WorkChunk& chunk = plan.chunks[c];
    std::optional<ChunkRecord> done = ReadChunkRecord(state_dir, chunk);
    if (done && (done->shard.empty() || fs::exists(absl::StrCat(spec.dataset, "/", done->shard)))) {
      ++resumed;
      continue;
    }
    ASSIGN_OR_RETURN(ChunkRecord record, writer.Prepare(chunk, &shards_written));
    RETURN_IF_ERROR(WriteChunkRecord(state_dir, record));
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
  context.barrier();
  if (!lead) return absl::OkStatus();
  RETURN_IF_ERROR(Finish(spec, index, plan, shape, state_dir, out));
  out << absl::StrFormat("done: %s in %.1fs\n", spec.dataset, SecondsSince(start));
  return absl::OkStatus();
}

}  // namespace align::prepare
