#include "common/prepare/chunk_record.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "nlohmann/json.hpp"

namespace align::prepare {

using json = nlohmann::json;

std::string SerializeChunkRecord(const ChunkRecord& r) {
  json problems = json::array();
  for (const ItemProblem& p : r.problems) {
    problems.push_back({{"id", p.id}, {"where", p.where}, {"reason", p.reason}, {"detail", p.detail}});
  }
  json j = {{"split", r.split}, {"index", r.index}, {"items", r.items}, {"pairs", r.pairs}, {"shard", r.shard},
            {"problems", problems}, {"captions_truncated", r.captions_truncated}, {"seconds", r.seconds}};
  if (r.shape) {
    const data::PairShape& s = *r.shape;
    j["shape"] = {{"latent_channels", s.latent_channels}, {"latent_height", s.latent_height},
                  {"latent_width", s.latent_width},       {"tokens", s.tokens},
                  {"context_dim", s.context_dim},         {"pooled_dim", s.pooled_dim}};
  }
  // Details may quote bytes from broken files: never let them break the record.
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

absl::StatusOr<ChunkRecord> ParseChunkRecord(const std::string& text, const std::string& what) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::DataLossError(absl::StrCat(what, ": not a chunk record"));
  try {
    ChunkRecord r;
    r.split = j.at("split").get<std::string>();
    r.index = j.at("index").get<int64_t>();
    r.items = j.at("items").get<int64_t>();
    r.pairs = j.at("pairs").get<int64_t>();
    r.shard = j.at("shard").get<std::string>();
    r.captions_truncated = j.at("captions_truncated").get<int64_t>();
    r.seconds = j.at("seconds").get<double>();
    for (const json& p : j.at("problems")) {
      r.problems.push_back({p.at("id").get<int64_t>(), p.at("where").get<std::string>(),
                            p.at("reason").get<std::string>(), p.at("detail").get<std::string>()});
    }
    if (j.contains("shape")) {
      const json& s = j.at("shape");
      r.shape = data::PairShape{s.at("latent_channels").get<int64_t>(), s.at("latent_height").get<int64_t>(),
                                s.at("latent_width").get<int64_t>(),    s.at("tokens").get<int64_t>(),
                                s.at("context_dim").get<int64_t>(),     s.at("pooled_dim").get<int64_t>()};
    }
    return r;
  } catch (const json::exception& e) {
    return absl::DataLossError(absl::StrCat(what, ": malformed chunk record: ", e.what()));
  }
}

absl::Status WriteChunkRecord(const std::string& state_dir, const ChunkRecord& record) {
  WorkChunk chunk;
  chunk.split = record.split;
  chunk.index = record.index;
  return WriteFileAtomically(absl::StrCat(state_dir, "/", chunk.RecordFile()), SerializeChunkRecord(record));
}

std::optional<ChunkRecord> ReadChunkRecord(const std::string& state_dir, const WorkChunk& chunk) {
  const std::string path = absl::StrCat(state_dir, "/", chunk.RecordFile());
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return std::nullopt;
  absl::StatusOr<ChunkRecord> record = ParseChunkRecord(*text, path);
  if (!record.ok() || record->split != chunk.split || record->index != chunk.index ||
      record->items != static_cast<int64_t>(chunk.items.size())) {
    return std::nullopt;
  }
  return *record;
}

}  // namespace align::prepare
