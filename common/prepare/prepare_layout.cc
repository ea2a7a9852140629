#include "common/prepare/prepare_layout.h"

#include <filesystem>
#include <optional>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/prepare/prepare_state.h"
#include "common/status_macros.h"

namespace align::prepare {

absl::StatusOr<PrepareLayout> LayOutPrepareJob(const JobSpec& spec) {
  if (spec.type != JobType::kPrepare || !spec.prepare) return absl::InvalidArgumentError("not a prepare job");
  const PrepareSpec& p = *spec.prepare;
  PrepareLayout layout;
  ASSIGN_OR_RETURN(layout.index, BuildInputIndex(p));
  std::vector<int64_t> ids;
  ids.reserve(layout.index.items.size());
  for (const PairItem& item : layout.index.items) ids.push_back(item.id);
  layout.plan = PlanWork(ids, {p.heldout_fraction, p.heldout}, p.pairs_per_shard, spec.seed);
  layout.fingerprint = PlanFingerprint(spec, layout.index, layout.plan);
  layout.state_dir = absl::StrCat(spec.output, "/", kStateDir);
  return layout;
}

std::optional<ChunkRecord> FinishedChunkRecord(const JobSpec& spec, const PrepareLayout& layout,
                                               const WorkChunk& chunk) {
  std::optional<ChunkRecord> record = ReadChunkRecord(layout.state_dir, chunk);
  if (!record) return std::nullopt;
  std::error_code ec;
  if (!record->shard.empty() && !std::filesystem::exists(absl::StrCat(spec.dataset, "/", record->shard), ec)) {
    return std::nullopt;
  }
  return record;
}

}  // namespace align::prepare
