#include "tests/support/finished_chunk.h"

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/shard_builder.h"
#include "common/prepare/chunk_record.h"
#include "common/status_macros.h"

namespace align::testing {

absl::Status WriteFinishedChunk(const JobSpec& spec, const prepare::PrepareLayout& layout, size_t position,
                                int failed_items, const data::PairShape& shape) {
  const prepare::WorkChunk& chunk = layout.plan.chunks.at(position);
  prepare::ChunkRecord record;
  record.split = chunk.split;
  record.index = chunk.index;
  record.items = static_cast<int64_t>(chunk.items.size());
  data::ShardBuilder shard(shape, {});
  const std::vector<float> latents(shape.latent_numel(), 0.5f);
  const std::vector<float> prompt(shape.prompt_numel(), 0.25f);
  const std::vector<float> pooled(shape.pooled_dim, 0.125f);
  const std::vector<float> time_ids = {64, 64, 0, 0, 64, 64};
  for (size_t k = 0; k < chunk.items.size(); ++k) {
    const prepare::PairItem& item = layout.index.items.at(chunk.items[k]);
    if (static_cast<int>(k) < failed_items) {
      record.problems.push_back({item.id, item.where, "corrupt_image", "test: not a JPEG"});
      continue;
    }
    data::PairRecord pair{latents, latents, prompt, pooled, time_ids, item.id, std::nullopt, std::nullopt,
                          std::nullopt};
    RETURN_IF_ERROR(shard.Add(pair, absl::StrCat("pair ", item.id)));
  }
  if (shard.size() > 0) {
    record.shard = chunk.ShardFile();
    record.shape = shape;
    RETURN_IF_ERROR(shard.Write(absl::StrCat(spec.dataset, "/", record.shard), chunk.split));
  }
  record.pairs = shard.size();
  return prepare::WriteChunkRecord(layout.state_dir, record);
}

}  // namespace align::testing
