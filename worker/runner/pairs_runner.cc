#include "worker/runner/pairs_runner.h"

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/curriculum/pairs_layout.h"
#include "common/prepare/chunk_record.h"
#include "common/status_macros.h"

namespace align::runner {
namespace {

class PairsProcessor : public ChunkProcessor {
 public:
  PairsProcessor(JobSpec spec, curriculum::PairsLayout layout) : spec_(std::move(spec)), layout_(std::move(layout)) {}

  absl::StatusOr<int64_t> Process(int64_t position) override {
    if (position < 0 || position >= static_cast<int64_t>(layout_.plan.chunks.size())) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", position, " is outside the plan of ",
                                                     layout_.plan.chunks.size(), " shards"));
    }
    const prepare::WorkChunk& chunk = layout_.plan.chunks[position];
    if (std::optional<prepare::ChunkRecord> done = curriculum::FinishedPairsChunk(layout_, chunk)) return done->pairs;
    ASSIGN_OR_RETURN(const prepare::ChunkRecord record,
                     curriculum::WritePairsChunk(layout_, chunk, spec_.pairs->dtype));
    RETURN_IF_ERROR(prepare::WriteChunkRecord(layout_.state_dir, record));
    return record.pairs;
  }

 private:
  const JobSpec spec_;
  const curriculum::PairsLayout layout_;
};

}  // namespace

std::unique_ptr<control::WorkerJobKind> MakePairsWorkerKind() {
  return std::make_unique<ChunkedWorkerKind>(
      JobType::kPairs, [](const control::JobTicket& ticket) -> absl::StatusOr<std::unique_ptr<ChunkProcessor>> {
        ASSIGN_OR_RETURN(curriculum::PairsLayout layout, curriculum::LayOutPairsJob(ticket.spec));
        return std::unique_ptr<ChunkProcessor>(std::make_unique<PairsProcessor>(ticket.spec, std::move(layout)));
      });
}

}  // namespace align::runner
