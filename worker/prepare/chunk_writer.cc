#include "worker/prepare/chunk_writer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/prepare/chunk_prefetch.h"
#include "common/status_macros.h"

namespace align::prepare {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

safetensors::DType StorageDtype(ShardDtype dtype) {
  switch (dtype) {
    case ShardDtype::kF16:
      return safetensors::DType::kF16;
    case ShardDtype::kBf16:
      return safetensors::DType::kBF16;
    default:
      return safetensors::DType::kF32;
  }
}

// Rank r of a host uses its GPU r (as the trainer does).
// Test hook (docs/data-preparation.md): die like a killed process right after
// the N-th shard this process writes is renamed into place, before its record:
// the worst moment for a resume.
int CrashAfterShards() {
  const char* value = std::getenv("ALIGN_PREPARE_CRASH_AFTER_SHARDS");
  return value ? std::atoi(value) : 0;
}

// Row i of a [B, ...] tensor; empty for a tensor this dataset does not store
// (undefined: SD 1.x / 2.x's pooled, latent variants).
absl::Span<const float> Row(const torch::Tensor& t, size_t i) {
  if (!t.defined()) return absl::Span<const float>();
  const int64_t n = t[0].numel();
  return absl::Span<const float>(t.data_ptr<float>() + i * n, static_cast<size_t>(n));
}

// Row i of each crop's tensor, crop after crop: a pair's crop_* row.
std::vector<float> CropRows(const std::vector<EncodedBatch>& crops, torch::Tensor EncodedBatch::*field, size_t i) {
  std::vector<float> out;
  for (const EncodedBatch& crop : crops) {
    const absl::Span<const float> row = Row(crop.*field, i);
    out.insert(out.end(), row.begin(), row.end());
  }
  return out;
}

}  // namespace

absl::StatusOr<ChunkRecord> ChunkWriter::Prepare(const WorkChunk& chunk, int* shards_written) {
  const Clock::time_point start = Clock::now();
  ChunkRecord record;
  record.split = chunk.split;
  record.index = chunk.index;
  record.items = static_cast<int64_t>(chunk.items.size());
  data::ShardOptions shard_options{StorageDtype(p_.dtype), false, false};
  shard_options.has_flipped_latents = p_.flip_per_step;
  shard_options.has_latent_logvar = p_.latent == LatentMode::kSamplePerStep;
  shard_options.crop_variants = p_.crop_variants;
  data::ShardBuilder shard(shape_, shard_options);

  ConditioningOptions conditioning;
  conditioning.resolution = static_cast<int>(p_.resolution);
  conditioning.center_crop = p_.center_crop;
  conditioning.random_flip = p_.random_flip;
  conditioning.constant_time_ids = p_.micro_conditioning == MicroConditioning::kConstant;
  conditioning.flipped_variant = p_.flip_per_step;
  conditioning.flip_images = p_.flip_images;
  conditioning.crop_variants = static_cast<int>(p_.crop_variants);
  conditioning.seed = spec_.seed;
  PrefetchingChunkSource source(index_, chunk, conditioning, static_cast<size_t>(2 * p_.batch_size));
  std::vector<PreparedItem> batch;
  PreparedItem item;
  bool more = true;
  while (more) {
    const Clock::time_point wait = Clock::now();
    more = source.Next(&item);
    input_wait_seconds_ += SecondsSince(wait);
    if (more) {
      if (!item.ok) {
        record.problems.push_back(std::move(item.problem));
        continue;
      }
      if (encoder_.Truncates(item.item->caption)) ++record.captions_truncated;
      batch.push_back(std::move(item));
    }
    if (!batch.empty() && (static_cast<int64_t>(batch.size()) == p_.batch_size || !more)) {
      const Clock::time_point encode = Clock::now();
      RETURN_IF_ERROR(EncodeBatch(batch, shard, record));
      encode_seconds_ += SecondsSince(encode);
      batch.clear();
    }
  }
  if (shard.size() > 0) {
    record.shard = chunk.ShardFile();
    record.shape = shape_;
    RETURN_IF_ERROR(shard.Write(absl::StrCat(spec_.dataset, "/", record.shard), chunk.split));
    ++*shards_written;
    if (CrashAfterShards() > 0 && *shards_written >= CrashAfterShards()) _exit(86);
  }
  record.pairs = shard.size();
  std::sort(record.problems.begin(), record.problems.end(),
            [](const ItemProblem& a, const ItemProblem& b) { return a.id < b.id; });
  record.seconds = SecondsSince(start);
  return record;
}


absl::StatusOr<EncodedBatch> ChunkWriter::EncodeCrop(const std::vector<PreparedItem>& batch,
                                                     const std::vector<std::string>& captions,
                                                     const std::vector<int64_t>& ids, int crop, bool flipped,
                                                     bool encode_text) {
  std::vector<float> pixels_w, pixels_l;
  for (const PreparedItem& it : batch) {
    const CroppedPair* more = crop > 0 ? &it.pair.more_crops[static_cast<size_t>(crop - 1)] : nullptr;
    const std::vector<float>& w = more ? (flipped ? more->pixels_w_flipped : more->pixels_w)
                                       : (flipped ? it.pair.pixels_w_flipped : it.pair.pixels_w);
    const std::vector<float>& l = more ? (flipped ? more->pixels_l_flipped : more->pixels_l)
                                       : (flipped ? it.pair.pixels_l_flipped : it.pair.pixels_l);
    pixels_w.insert(pixels_w.end(), w.begin(), w.end());
    pixels_l.insert(pixels_l.end(), l.begin(), l.end());
  }
  // kSample's noise is keyed by (pair, role): roles 0/1 for crop 0's images,
  // 2/3 for them flipped, 4c.. for crop c's, so no two encodings share noise.
  const uint64_t role_base = 4 * static_cast<uint64_t>(crop) + (flipped ? 2 : 0);
  try {
    return encoder_.Encode(captions, pixels_w, pixels_l, p_.resolution, p_.latent, ids, spec_.seed, role_base,
                           encode_text);
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("encoding failed: ", e.what_without_backtrace()));
  }
}

absl::Status ChunkWriter::EncodeBatch(const std::vector<PreparedItem>& batch, data::ShardBuilder& shard, ChunkRecord& record) {
  std::vector<std::string> captions;
  std::vector<int64_t> ids;
  for (const PreparedItem& it : batch) {
    captions.push_back(it.item->caption);
    ids.push_back(it.item->id);
  }
  EncodedBatch out, flipped;
  ASSIGN_OR_RETURN(out, EncodeCrop(batch, captions, ids, 0, /*flipped=*/false, /*encode_text=*/true));
  if (p_.flip_per_step) {
    // The VAE's encoding of the flipped images (flipping a latent is not the same).
    ASSIGN_OR_RETURN(flipped, EncodeCrop(batch, captions, ids, 0, /*flipped=*/true, /*encode_text=*/false));
  }
  // Crops 1 .. K-1, each encoded as crop 0 is.
  std::vector<EncodedBatch> crops, flipped_crops;
  for (int c = 1; c < p_.crop_variants; ++c) {
    ASSIGN_OR_RETURN(EncodedBatch crop, EncodeCrop(batch, captions, ids, c, false, false));
    crops.push_back(std::move(crop));
    if (p_.flip_per_step) {
      ASSIGN_OR_RETURN(EncodedBatch crop_flipped, EncodeCrop(batch, captions, ids, c, true, false));
      flipped_crops.push_back(std::move(crop_flipped));
    }
  }
  vae_seconds_ += out.vae_seconds + flipped.vae_seconds;
  for (const EncodedBatch& crop : crops) vae_seconds_ += crop.vae_seconds;
  for (const EncodedBatch& crop : flipped_crops) vae_seconds_ += crop.vae_seconds;
  for (size_t i = 0; i < batch.size(); ++i) {
    data::PairRecord pair;
    pair.latents_w = Row(out.latents_w, i);
    pair.latents_l = Row(out.latents_l, i);
    pair.prompt_embeds = Row(out.prompt_embeds, i);
    pair.pooled_prompt_embeds = Row(out.pooled, i);
    pair.time_ids = absl::Span<const float>(batch[i].pair.time_ids.data(), 6);
    pair.latents_logvar_w = Row(out.logvar_w, i);
    pair.latents_logvar_l = Row(out.logvar_l, i);
    pair.latents_flipped_w = Row(flipped.latents_w, i);
    pair.latents_flipped_l = Row(flipped.latents_l, i);
    pair.latents_flipped_logvar_w = Row(flipped.logvar_w, i);
    pair.latents_flipped_logvar_l = Row(flipped.logvar_l, i);
    // The crop_* rows (empty without crop variants): they must outlive shard.Add.
    const std::vector<float> crop_w = CropRows(crops, &EncodedBatch::latents_w, i);
    const std::vector<float> crop_l = CropRows(crops, &EncodedBatch::latents_l, i);
    const std::vector<float> crop_logvar_w = CropRows(crops, &EncodedBatch::logvar_w, i);
    const std::vector<float> crop_logvar_l = CropRows(crops, &EncodedBatch::logvar_l, i);
    const std::vector<float> crop_flipped_w = CropRows(flipped_crops, &EncodedBatch::latents_w, i);
    const std::vector<float> crop_flipped_l = CropRows(flipped_crops, &EncodedBatch::latents_l, i);
    const std::vector<float> crop_flipped_logvar_w = CropRows(flipped_crops, &EncodedBatch::logvar_w, i);
    const std::vector<float> crop_flipped_logvar_l = CropRows(flipped_crops, &EncodedBatch::logvar_l, i);
    std::vector<float> crop_time_ids;
    for (const CroppedPair& more : batch[i].pair.more_crops) {
      crop_time_ids.insert(crop_time_ids.end(), more.time_ids.begin(), more.time_ids.end());
    }
    pair.crop_latents_w = crop_w;
    pair.crop_latents_l = crop_l;
    pair.crop_time_ids = crop_time_ids;
    pair.crop_latents_logvar_w = crop_logvar_w;
    pair.crop_latents_logvar_l = crop_logvar_l;
    pair.crop_latents_flipped_w = crop_flipped_w;
    pair.crop_latents_flipped_l = crop_flipped_l;
    pair.crop_latents_flipped_logvar_w = crop_flipped_logvar_w;
    pair.crop_latents_flipped_logvar_l = crop_flipped_logvar_l;
    pair.pair_id = batch[i].item->id;
    const absl::Status added = shard.Add(pair, batch[i].item->where);
    if (!added.ok()) {  // non-finite outputs: this item fails, the chunk goes on
      record.problems.push_back(
          {batch[i].item->id, batch[i].item->where, reason::kEncodeFailed, std::string(added.message())});
    }
  }
  return absl::OkStatus();
}

}  // namespace align::prepare
