#pragma once
// How a prepare job's items become shards and who writes which: a pure
// function of the index and the options, so every rank (and, later, the
// coordinator splitting the input over worker groups) computes the same plan
// without talking. Free of LibTorch and MPI.
//
// Items are first split into `train` and `heldout` (a seeded choice, fixed by
// item id), then each split is cut, in id order, into chunks of
// `pairs_per_shard` items; chunk k of a split becomes shard `<split>-<k>`. A
// chunk is the unit of work and of resumption. Its shard holds fewer pairs
// than items when some items fail to decode; an all-failed chunk has no shard.

#include <cstdint>
#include <string>
#include <vector>

namespace align::prepare {

struct HeldoutRule {
  double fraction = 0;  // of the usable items, rounded to nearest
  int64_t count = 0;    // exact count; wins over fraction when > 0
};

struct WorkChunk {
  std::string split;           // "train" or "heldout"
  int64_t index = 0;           // within the split
  std::vector<int64_t> items;  // positions in InputIndex::items, ascending
  std::string ShardFile() const;   // "<split>-<index, 5 digits>.safetensors"
  std::string RecordFile() const;  // "<split>-<index, 5 digits>.json"
};

struct WorkPlan {
  std::vector<WorkChunk> chunks;  // train chunks, then heldout chunks
  int64_t train_items = 0;
  int64_t heldout_items = 0;
};

// `item_ids[i]` is the id of usable item i (ascending). Held-out items are the
// `n` with the smallest seeded hash of their id, so the choice depends on the
// seed and the ids only, never on the number of ranks.
WorkPlan PlanWork(const std::vector<int64_t>& item_ids, const HeldoutRule& heldout, int64_t pairs_per_shard,
                  uint64_t seed);

// Part `part` of `parts` (ranks, or worker groups): a contiguous, balanced
// range of chunk positions in WorkPlan::chunks (contiguous, so a rank reads a
// contiguous stretch of each tar shard).
std::vector<size_t> ChunksOfPart(size_t num_chunks, int part, int parts);

}  // namespace align::prepare
