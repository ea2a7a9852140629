#include "common/prepare/dataset_finish.h"

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/manifest_merge.h"
#include "common/file_util.h"
#include "common/prepare/chunk_record.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::prepare {
namespace {

namespace fs = std::filesystem;

nlohmann::json Provenance(const JobSpec& spec, const PrepareReport& report) {
  const PrepareSpec& p = *spec.prepare;
  nlohmann::json source = {
      {"tool", "align-worker prepare"},
      {"job", spec.name},
      {"input", p.input},
      {"format", p.format == PrepareFormat::kJsonl ? "jsonl" : "webdataset"},
      {"model", spec.model},
      {"resolution", p.resolution},
      {"center_crop", p.center_crop},
      {"random_flip", p.flip_per_step ? nlohmann::json("per_step") : nlohmann::json(p.random_flip)},
      {"latent", p.latent == LatentMode::kMean     ? "mean"
                 : p.latent == LatentMode::kSample ? "sample"
                                                   : "sample_per_step"},
      {"micro_conditioning", p.micro_conditioning == MicroConditioning::kConstant ? "constant" : "per_image"},
      {"seed", spec.seed},
      {"items", report.total},
      {"ties", report.ties},
      {"failed", report.failed}};
  // Only when not the default, so other datasets keep the manifest they always had.
  if (p.flip_images != data::FlipImages::kTogether) {
    source["flip_images"] = std::string(data::FlipImagesName(p.flip_images));
  }
  if (p.crop_variants > 1) source["crop_variants"] = p.crop_variants;
  return source;
}

// Every shard was written by the same model and resolution; a record that
// disagrees means the dataset directory was tampered with or mixed up.
absl::StatusOr<data::PairShape> ShapeOfRecords(const std::vector<ChunkRecord>& records) {
  std::optional<data::PairShape> shape;
  for (const ChunkRecord& record : records) {
    if (record.shard.empty()) continue;
    if (!record.shape) {
      return absl::DataLossError(absl::StrCat("the record of ", record.shard,
                                              " carries no shape (written by an older align-worker); "
                                              "delete it to prepare that chunk again"));
    }
    if (shape && !(*shape == *record.shape)) {
      return absl::DataLossError(absl::StrCat(record.shard, " has a different shape from the shards before it"));
    }
    shape = record.shape;
  }
  if (!shape) return absl::FailedPreconditionError("no chunk produced a shard: no pair could be prepared");
  return *shape;
}

}  // namespace

absl::StatusOr<PrepareReport> FinishPreparedDataset(const JobSpec& spec, const PrepareLayout& layout) {
  std::vector<ChunkRecord> records;
  for (const WorkChunk& chunk : layout.plan.chunks) {
    std::optional<ChunkRecord> record = ReadChunkRecord(layout.state_dir, chunk);
    if (!record) {
      return absl::InternalError(absl::StrCat("chunk ", chunk.RecordFile(), " has no record after every rank finished"));
    }
    records.push_back(std::move(*record));
  }
  const PrepareReport report = BuildReport(layout.index, records, spec.prepare->max_error_ratio);
  RETURN_IF_ERROR(WriteFileAtomically(
      absl::StrCat(spec.output, "/", kReportFile),
      ReportToJson(report).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n"));
  if (!report.ok()) return report;

  data::MergeRequest merge;
  ASSIGN_OR_RETURN(merge.shape, ShapeOfRecords(records));
  merge.splits = {{"train", {}}, {"heldout", {}}};
  for (const ChunkRecord& record : records) {
    if (!record.shard.empty()) merge.splits[record.split].push_back(record.shard);
  }
  merge.source = Provenance(spec, report);
  merge.has_flipped_latents = spec.prepare->flip_per_step;
  merge.has_latent_logvar = spec.prepare->latent == LatentMode::kSamplePerStep;
  // Frozen flips need no record: the shards hold the flipped images' latents.
  if (spec.prepare->flip_per_step) merge.flip_images = spec.prepare->flip_images;
  merge.crop_variants = spec.prepare->crop_variants;
  RETURN_IF_ERROR(data::WriteMergedManifest(spec.dataset, merge).status());
  // Shards a killed rank left half-written (never renamed into place).
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(spec.dataset, ec)) {
    if (absl::EndsWith(entry.path().filename().string(), ".safetensors.tmp")) fs::remove(entry.path(), ec);
  }
  return report;
}

}  // namespace align::prepare
