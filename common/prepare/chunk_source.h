#pragma once
// Reads, decodes and conditions the items of one work chunk, in order: the
// torch-free half of preparing a shard. Each item comes back either as a
// ConditionedPair or as a problem with a reason code; nothing here stops the
// job, the caller counts.

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "common/imaging/decode_image.h"
#include "common/prepare/input_index.h"
#include "common/prepare/pair_conditioning.h"
#include "common/prepare/webdataset_input.h"
#include "common/prepare/work_split.h"

namespace align::prepare {

// Images whose longer side exceeds this multiple of the shorter one are
// refused: the shorter side is scaled to `resolution`, so a 1x4000 banner
// would become a multi-gigabyte buffer.
inline constexpr int kMaxAspectRatio = 16;

struct PreparedItem {
  const PairItem* item = nullptr;
  bool ok = false;
  ItemProblem problem;   // when !ok
  ConditionedPair pair;  // when ok
};

class ChunkSource {
 public:
  ChunkSource(const InputIndex& index, const WorkChunk& chunk, const ConditioningOptions& options,
              const imaging::DecodeLimits& limits = {});
  // The next item of the chunk; false after the last.
  bool Next(PreparedItem* out);

 private:
  // Fills `bytes_0`, `bytes_1` or returns false with `problem` set.
  bool LoadBytes(const PairItem& item, std::string* bytes_0, std::string* bytes_1, ItemProblem* problem);
  bool LoadFromTar(const PairItem& item, std::string* bytes_0, std::string* bytes_1, ItemProblem* problem);

  const InputIndex& index_;
  const WorkChunk& chunk_;
  ConditioningOptions options_;
  imaging::DecodeLimits limits_;
  size_t next_ = 0;
  // The open shard (WebDataset): chunks are contiguous, so one reader moves forward.
  int32_t open_source_ = -1;
  std::unique_ptr<WebDatasetReader> reader_;
  std::set<int64_t> wanted_;  // positions of this chunk's samples in the open shard
};

}  // namespace align::prepare
