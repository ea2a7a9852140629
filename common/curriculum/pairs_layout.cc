#include "common/curriculum/pairs_layout.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/curriculum/score_layout.h"
#include "common/dataset/empty_prompt.h"
#include "common/dataset/pair_record.h"
#include "common/dataset/shard_builder.h"
#include "common/file_util.h"
#include "common/run_fingerprint.h"
#include "common/safetensors/reader.h"
#include "common/status_macros.h"

namespace align::curriculum {
namespace fs = std::filesystem;
namespace {

safetensors::DType ShardDType(ShardDtype dtype) {
  switch (dtype) {
    case ShardDtype::kF16:
      return safetensors::DType::kF16;
    case ShardDtype::kBf16:
      return safetensors::DType::kBF16;
    case ShardDtype::kF32:
      break;
  }
  return safetensors::DType::kF32;
}

// One generate latents file, opened once per chunk; rows read by pread.
class LatentsFile {
 public:
  static absl::StatusOr<std::unique_ptr<LatentsFile>> Open(const std::string& path) {
    auto file = std::unique_ptr<LatentsFile>(new LatentsFile);
    ASSIGN_OR_RETURN(file->file_, safetensors::File::Open(path));
    for (const char* name : {"latents", "sample_ids", "prompt_indices", "prompt_embeds", "time_ids"}) {
      if (!file->file_->Contains(name)) {
        return absl::DataLossError(absl::StrCat(path, ": no tensor \"", name, "\" (not a generate latents file)"));
      }
    }
    return file;
  }

  // Row `row` of F32 tensor `name`, [rows, ...] -> the row's floats.
  absl::StatusOr<std::vector<float>> Row(const std::string& name, int64_t row) const {
    ASSIGN_OR_RETURN(const safetensors::TensorView view, file_->Get(name));
    const std::vector<int64_t>& shape = view.info->shape;
    if (view.info->dtype != safetensors::DType::kF32 || shape.empty() || row < 0 || row >= shape[0]) {
      return absl::DataLossError(absl::StrCat(file_->path(), ": tensor ", name, " has no F32 row ", row));
    }
    int64_t per_row = 1;
    for (size_t d = 1; d < shape.size(); ++d) per_row *= shape[d];
    std::vector<float> out(per_row);
    RETURN_IF_ERROR(file_->ReadBytes(view, row * per_row * sizeof(float), per_row * sizeof(float), out.data()));
    return out;
  }

  // The row of `ids_name` (I64 [rows]) equal to `id`.
  absl::StatusOr<int64_t> RowOf(const std::string& ids_name, int64_t id) const {
    ASSIGN_OR_RETURN(const safetensors::TensorView view, file_->Get(ids_name));
    const int64_t rows = view.info->shape.empty() ? 0 : view.info->shape[0];
    std::vector<int64_t> ids(rows);
    if (view.info->dtype != safetensors::DType::kI64 || view.info->shape.size() != 1) {
      return absl::DataLossError(absl::StrCat(file_->path(), ": ", ids_name, " is not I64 [n]"));
    }
    RETURN_IF_ERROR(file_->ReadBytes(view, 0, rows * sizeof(int64_t), ids.data()));
    for (int64_t r = 0; r < rows; ++r) {
      if (ids[r] == id) return r;
    }
    return absl::DataLossError(absl::StrCat(file_->path(), ": ", ids_name, " does not hold ", id));
  }

  const std::vector<int64_t>& Shape(const std::string& name) const { return file_->Get(name)->info->shape; }
  bool Has(const std::string& name) const { return file_->Contains(name); }

 private:
  LatentsFile() = default;
  std::unique_ptr<safetensors::File> file_;
};

// The generate job's empty-prompt conditioning (kEmptyPromptEmbeds) as the
// dataset's conditioning/empty_prompt.safetensors, for train jobs' prompt
// dropout. Every chunk writes it (the same bytes, renamed into place), so a
// dataset with any finished chunk has it. Latents files of older generate
// jobs have none: the dataset then has none either, as before.
absl::Status CopyEmptyPrompt(const LatentsFile& file, const std::string& dataset, const data::PairShape& shape,
                             int64_t writer) {
  if (!file.Has(kEmptyPromptEmbeds)) return absl::OkStatus();
  ASSIGN_OR_RETURN(const std::vector<float> embeds, file.Row(kEmptyPromptEmbeds, 0));
  std::vector<float> pooled;
  if (file.Has(kEmptyPooledPromptEmbeds)) {
    ASSIGN_OR_RETURN(pooled, file.Row(kEmptyPooledPromptEmbeds, 0));
  }
  return data::WriteEmptyPrompt(dataset, shape, embeds, pooled, static_cast<int>(writer));
}

}  // namespace

absl::StatusOr<PairsLayout> LayOutPairsJob(const JobSpec& resolved) {
  const PairsSpec& p = *resolved.pairs;
  PairsLayout layout;
  layout.generated = p.generated;
  layout.dataset = resolved.dataset;
  layout.state_dir = absl::StrCat(resolved.output, "/", kPairsStateDir);
  absl::StatusOr<std::vector<GeneratedIndexRow>> index = ReadGenerateIndex(p.generated);
  if (!index.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs.generated: not a finished generate job's output: ", index.status().message()));
  }
  for (GeneratedIndexRow& row : *index) {
    layout.latents_of_prompt.emplace(row.prompt_index, row.latents);
    const int64_t id = row.sample_id;
    layout.by_sample_id.emplace(id, std::move(row));
  }
  layout.prompts = static_cast<int64_t>(layout.latents_of_prompt.size());
  absl::StatusOr<std::vector<ScoredRow>> scores = ReadScores(p.scores);
  if (!scores.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("pairs.scores: not a finished score job's output: ", scores.status().message()));
  }
  std::map<int64_t, PromptCandidates> by_prompt;
  for (const ScoredRow& row : *scores) {
    if (!row.item.sample_id || layout.by_sample_id.count(*row.item.sample_id) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pairs.scores: the score of ", row.item.image, " names no sample of ", p.generated,
          " (score the generate job's output directory itself)"));
    }
    const GeneratedIndexRow& generated = layout.by_sample_id.at(*row.item.sample_id);
    PromptCandidates& prompt = by_prompt[generated.prompt_index];
    prompt.prompt_index = generated.prompt_index;
    prompt.candidates.push_back({generated.sample_id, row.score});
  }
  std::vector<PromptCandidates> prompts;
  for (auto& [index_of_prompt, prompt] : by_prompt) prompts.push_back(std::move(prompt));
  PairingOptions options;
  options.difficulty = p.difficulty;
  options.tie_threshold = p.tie_threshold;
  options.max_pairs_per_prompt = p.max_pairs_per_prompt;
  options.stages = p.stages;
  options.binning = p.binning;
  absl::StatusOr<std::vector<PlannedPair>> pairs = BuildPairs(prompts, options);
  if (!pairs.ok()) return absl::InvalidArgumentError(absl::StrCat("pairs: ", pairs.status().message()));
  if (pairs->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pairs: no pair: every two images of a prompt score within tie_threshold ", p.tie_threshold, " of each other"));
  }
  layout.pairs = *std::move(pairs);
  std::vector<int64_t> ids;
  for (const PlannedPair& pair : layout.pairs) ids.push_back(pair.pair_id);
  layout.plan = prepare::PlanWork(ids, {p.heldout_fraction, 0}, p.pairs_per_shard, resolved.seed);

  Fingerprint h(0x706169);  // "pai"
  h.Add(p.generated);
  h.Add(resolved.dataset);
  h.Add(static_cast<uint64_t>(p.dtype));
  h.Add(resolved.seed);
  for (const PlannedPair& pair : layout.pairs) {
    h.Add(static_cast<uint64_t>(pair.preferred));
    h.Add(static_cast<uint64_t>(pair.rejected));
    h.AddDouble(pair.difficulty);
    h.AddDouble(pair.score_w);
    h.AddDouble(pair.score_l);
  }
  for (const prepare::WorkChunk& chunk : layout.plan.chunks) h.Add(chunk.ShardFile());
  layout.fingerprint = h.value();
  return layout;
}

absl::StatusOr<prepare::ChunkRecord> WritePairsChunk(const PairsLayout& layout, const prepare::WorkChunk& chunk,
                                                     ShardDtype dtype) {
  const auto started = std::chrono::steady_clock::now();
  std::map<std::string, std::unique_ptr<LatentsFile>> files;
  const auto file_of = [&](const std::string& relative) -> absl::StatusOr<const LatentsFile*> {
    auto it = files.find(relative);
    if (it == files.end()) {
      ASSIGN_OR_RETURN(std::unique_ptr<LatentsFile> file,
                       LatentsFile::Open((fs::path(layout.generated) / relative).string()));
      it = files.emplace(relative, std::move(file)).first;
    }
    return it->second.get();
  };

  std::optional<data::PairShape> shape;
  std::unique_ptr<data::ShardBuilder> shard;
  const LatentsFile* first_prompt_file = nullptr;
  for (int64_t pair_id : chunk.items) {
    const PlannedPair& pair = layout.pairs.at(pair_id);
    const GeneratedIndexRow& w = layout.by_sample_id.at(pair.preferred);
    const GeneratedIndexRow& l = layout.by_sample_id.at(pair.rejected);
    ASSIGN_OR_RETURN(const LatentsFile* file_w, file_of(w.latents));
    ASSIGN_OR_RETURN(const LatentsFile* file_l, file_of(l.latents));
    ASSIGN_OR_RETURN(const LatentsFile* prompt_file, file_of(layout.latents_of_prompt.at(pair.prompt_index)));
    ASSIGN_OR_RETURN(const std::vector<float> latents_w, file_w->Row("latents", w.latents_row));
    ASSIGN_OR_RETURN(const std::vector<float> latents_l, file_l->Row("latents", l.latents_row));
    if (!first_prompt_file) first_prompt_file = prompt_file;
    ASSIGN_OR_RETURN(const int64_t prompt_row, prompt_file->RowOf("prompt_indices", pair.prompt_index));
    ASSIGN_OR_RETURN(const std::vector<float> prompt_embeds, prompt_file->Row("prompt_embeds", prompt_row));
    ASSIGN_OR_RETURN(const std::vector<float> time_ids, prompt_file->Row("time_ids", prompt_row));
    std::vector<float> pooled;
    if (prompt_file->Has("pooled_prompt_embeds")) {
      ASSIGN_OR_RETURN(pooled, prompt_file->Row("pooled_prompt_embeds", prompt_row));
    }
    if (!shape) {
      const std::vector<int64_t>& latents = file_w->Shape("latents");
      const std::vector<int64_t>& embeds = prompt_file->Shape("prompt_embeds");
      if (latents.size() != 4 || embeds.size() != 3) {
        return absl::DataLossError(absl::StrCat(w.latents, ": latents must be [n, C, h, w], prompt_embeds [p, T, D]"));
      }
      shape = data::PairShape{latents[1], latents[2], latents[3], embeds[1], embeds[2],
                              static_cast<int64_t>(pooled.size())};
      shard = std::make_unique<data::ShardBuilder>(
          *shape, data::ShardOptions{ShardDType(dtype), /*has_difficulty=*/true, /*has_scores=*/true});
    }
    data::PairRecord record;
    record.latents_w = latents_w;
    record.latents_l = latents_l;
    record.prompt_embeds = prompt_embeds;
    record.pooled_prompt_embeds = pooled;
    record.time_ids = time_ids;
    record.pair_id = pair_id;
    record.difficulty = pair.difficulty;
    record.score_w = static_cast<float>(pair.score_w);
    record.score_l = static_cast<float>(pair.score_l);
    RETURN_IF_ERROR(shard->Add(record, absl::StrCat("pair ", pair_id, " (samples ", pair.preferred, " > ",
                                                    pair.rejected, ")")));
  }
  prepare::ChunkRecord record;
  record.split = chunk.split;
  record.index = chunk.index;
  record.items = static_cast<int64_t>(chunk.items.size());
  record.pairs = shard ? shard->size() : 0;
  if (shard) {
    record.shard = chunk.ShardFile();
    std::error_code ec;
    fs::create_directories(layout.dataset, ec);
    RETURN_IF_ERROR(shard->Write((fs::path(layout.dataset) / record.shard).string(), chunk.split));
    RETURN_IF_ERROR(CopyEmptyPrompt(*first_prompt_file, layout.dataset, *shape, chunk.index));
  }
  record.shape = shape;
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return record;
}

std::optional<prepare::ChunkRecord> FinishedPairsChunk(const PairsLayout& layout, const prepare::WorkChunk& chunk) {
  std::optional<prepare::ChunkRecord> record = prepare::ReadChunkRecord(layout.state_dir, chunk);
  if (!record) return std::nullopt;
  std::error_code ec;
  if (!record->shard.empty() && !fs::exists(fs::path(layout.dataset) / record->shard, ec)) return std::nullopt;
  return record;
}

absl::StatusOr<data::Manifest> FinishPairsDataset(const JobSpec& resolved, const PairsLayout& layout) {
  data::Manifest manifest;
  manifest.has_difficulty = true;
  manifest.has_scores = true;
  manifest.splits["train"];
  manifest.splits["heldout"];
  bool have_shape = false;
  for (const prepare::WorkChunk& chunk : layout.plan.chunks) {
    std::optional<prepare::ChunkRecord> record = FinishedPairsChunk(layout, chunk);
    if (!record) {
      return absl::FailedPreconditionError(absl::StrCat("chunk ", chunk.split, "-", chunk.index, " has no record"));
    }
    if (record->pairs == 0) continue;
    if (record->shape && !have_shape) {
      manifest.shape = *record->shape;
      have_shape = true;
    }
    data::SplitEntry& split = manifest.splits[record->split];
    split.pairs += record->pairs;
    split.shards.push_back({record->shard, record->pairs});
  }
  const PairsSpec& p = *resolved.pairs;
  manifest.source = {{"generated", p.generated},
                     {"scores", p.scores},
                     {"difficulty", p.difficulty == CurriculumDifficulty::kRankGap ? "rank_gap" : "score_gap"},
                     {"stages", p.stages},
                     {"binning", p.binning == StageBinning::kEqualCount ? "equal_count" : "equal_width"},
                     {"tie_threshold", p.tie_threshold},
                     {"prompts", layout.prompts},
                     {"job", resolved.name}};
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(layout.dataset, "/", data::kManifestFile),
                                      data::SerializeManifest(manifest)));
  return manifest;
}

}  // namespace align::curriculum
