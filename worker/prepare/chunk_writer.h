#pragma once
// Prepares one work chunk: its items are read and conditioned on a background
// thread, encoded in batches, and written as one shard renamed into place;
// the returned record says what became of every item. The caller writes the
// record after this returns, which is what marks the chunk done.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dataset/manifest.h"
#include "common/dataset/shard_builder.h"
#include "common/job_spec.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/chunk_source.h"
#include "common/prepare/input_index.h"
#include "common/prepare/work_split.h"
#include "worker/prepare/pair_encoder.h"

namespace align::prepare {

class ChunkWriter {
 public:
  ChunkWriter(const JobSpec& spec, const InputIndex& index, PairEncoder& encoder, const data::PairShape& shape)
      : spec_(spec), p_(*spec.prepare), index_(index), encoder_(encoder), shape_(shape) {}

  // Writes `<dataset>/<chunk.ShardFile()>` unless every item failed;
  // `shards_written` counts this process's shards (for the crash test hook).
  absl::StatusOr<ChunkRecord> Prepare(const WorkChunk& chunk, int* shards_written);

  // Where a rank's time goes: waiting for decoded images vs running the encoders.
  double input_wait_seconds() const { return input_wait_seconds_; }
  double encode_seconds() const { return encode_seconds_; }
  double vae_seconds() const { return vae_seconds_; }

 private:
  absl::Status EncodeBatch(const std::vector<PreparedItem>& batch, data::ShardBuilder& shard, ChunkRecord& record);
  // The batch's images at crop `crop` (0: the pair's first), flipped or not.
  absl::StatusOr<EncodedBatch> EncodeCrop(const std::vector<PreparedItem>& batch,
                                          const std::vector<std::string>& captions, const std::vector<int64_t>& ids,
                                          int crop, bool flipped, bool encode_text);

  const JobSpec& spec_;
  const PrepareSpec& p_;
  const InputIndex& index_;
  PairEncoder& encoder_;
  data::PairShape shape_;
  double input_wait_seconds_ = 0;
  double encode_seconds_ = 0;
  double vae_seconds_ = 0;
};

}  // namespace align::prepare
