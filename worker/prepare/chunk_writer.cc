#include "worker/prepare/chunk_writer.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <utility>

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
  data::ShardBuilder shard(shape_, shard_options);

  ConditioningOptions conditioning;
  conditioning.resolution = static_cast<int>(p_.resolution);
  conditioning.center_crop = p_.center_crop;
  conditioning.random_flip = p_.random_flip;
  conditioning.constant_time_ids = p_.micro_conditioning == MicroConditioning::kConstant;
  conditioning.flipped_variant = p_.flip_per_step;
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


absl::Status ChunkWriter::EncodeBatch(const std::vector<PreparedItem>& batch, data::ShardBuilder& shard, ChunkRecord& record) {
  std::vector<std::string> captions;
  std::vector<float> pixels_w, pixels_l, flipped_w, flipped_l;
  std::vector<int64_t> ids;
  for (const PreparedItem& it : batch) {
    captions.push_back(it.item->caption);
    pixels_w.insert(pixels_w.end(), it.pair.pixels_w.begin(), it.pair.pixels_w.end());
    pixels_l.insert(pixels_l.end(), it.pair.pixels_l.begin(), it.pair.pixels_l.end());
    flipped_w.insert(flipped_w.end(), it.pair.pixels_w_flipped.begin(), it.pair.pixels_w_flipped.end());
    flipped_l.insert(flipped_l.end(), it.pair.pixels_l_flipped.begin(), it.pair.pixels_l_flipped.end());
    ids.push_back(it.item->id);
  }
  EncodedBatch out, flipped;
  try {
    out = encoder_.Encode(captions, pixels_w, pixels_l, p_.resolution, p_.latent, ids, spec_.seed);
    if (p_.flip_per_step) {
      // The VAE's encoding of the flipped images (flipping a latent is not the same).
      flipped = encoder_.Encode(captions, flipped_w, flipped_l, p_.resolution, p_.latent, ids, spec_.seed,
                                /*role_base=*/2, /*encode_text=*/false);
    }
  } catch (const c10::Error& e) {
    return absl::InternalError(absl::StrCat("encoding failed: ", e.what_without_backtrace()));
  }
  vae_seconds_ += out.vae_seconds + flipped.vae_seconds;
  const auto row = [](const torch::Tensor& t, size_t i) {
    // Undefined: a tensor this dataset does not store (SD 1.x / 2.x's pooled, latent variants).
    if (!t.defined()) return absl::Span<const float>();
    const int64_t n = t[0].numel();
    return absl::Span<const float>(t.data_ptr<float>() + i * n, static_cast<size_t>(n));
  };
  for (size_t i = 0; i < batch.size(); ++i) {
    data::PairRecord pair;
    pair.latents_w = row(out.latents_w, i);
    pair.latents_l = row(out.latents_l, i);
    pair.prompt_embeds = row(out.prompt_embeds, i);
    pair.pooled_prompt_embeds = row(out.pooled, i);
    pair.time_ids = absl::Span<const float>(batch[i].pair.time_ids.data(), 6);
    pair.latents_logvar_w = row(out.logvar_w, i);
    pair.latents_logvar_l = row(out.logvar_l, i);
    pair.latents_flipped_w = row(flipped.latents_w, i);
    pair.latents_flipped_l = row(flipped.latents_l, i);
    pair.latents_flipped_logvar_w = row(flipped.logvar_w, i);
    pair.latents_flipped_logvar_l = row(flipped.logvar_l, i);
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
