#include "common/prepare/work_split.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/random.h"

namespace align::prepare {
namespace {

constexpr uint64_t kHeldoutStream = 0x68656c646f7574;  // "heldout": a stream of its own

void Cut(const std::string& split, const std::vector<int64_t>& positions, int64_t per_chunk,
         std::vector<WorkChunk>& out) {
  for (size_t begin = 0, k = 0; begin < positions.size(); begin += per_chunk, ++k) {
    WorkChunk chunk;
    chunk.split = split;
    chunk.index = static_cast<int64_t>(k);
    const size_t end = std::min(positions.size(), begin + static_cast<size_t>(per_chunk));
    chunk.items.assign(positions.begin() + begin, positions.begin() + end);
    out.push_back(std::move(chunk));
  }
}

}  // namespace

std::string WorkChunk::ShardFile() const { return absl::StrFormat("%s-%05d.safetensors", split, index); }
std::string WorkChunk::RecordFile() const { return absl::StrFormat("%s-%05d.json", split, index); }

WorkPlan PlanWork(const std::vector<int64_t>& item_ids, const HeldoutRule& heldout, int64_t pairs_per_shard,
                  uint64_t seed) {
  const int64_t n = static_cast<int64_t>(item_ids.size());
  int64_t want = heldout.count > 0 ? heldout.count : std::llround(heldout.fraction * static_cast<double>(n));
  want = std::clamp<int64_t>(want, 0, n);

  std::vector<bool> is_heldout(item_ids.size(), false);
  if (want > 0) {
    std::vector<std::pair<uint64_t, int64_t>> ranked;  // (hash, position)
    ranked.reserve(item_ids.size());
    for (size_t i = 0; i < item_ids.size(); ++i) {
      ranked.emplace_back(DeriveSeed(seed, {kHeldoutStream, static_cast<uint64_t>(item_ids[i])}),
                          static_cast<int64_t>(i));
    }
    std::nth_element(ranked.begin(), ranked.begin() + (want - 1), ranked.end());
    for (int64_t i = 0; i < want; ++i) is_heldout[ranked[i].second] = true;
  }
  std::vector<int64_t> train, held;
  for (size_t i = 0; i < item_ids.size(); ++i) (is_heldout[i] ? held : train).push_back(static_cast<int64_t>(i));

  WorkPlan plan;
  plan.train_items = static_cast<int64_t>(train.size());
  plan.heldout_items = static_cast<int64_t>(held.size());
  Cut("train", train, pairs_per_shard, plan.chunks);
  Cut("heldout", held, pairs_per_shard, plan.chunks);
  return plan;
}

std::vector<size_t> ChunksOfPart(size_t num_chunks, int part, int parts) {
  std::vector<size_t> out;
  if (parts < 1 || part < 0 || part >= parts) return out;
  const size_t begin = num_chunks * part / parts, end = num_chunks * (part + 1) / parts;
  for (size_t c = begin; c < end; ++c) out.push_back(c);
  return out;
}

}  // namespace align::prepare
