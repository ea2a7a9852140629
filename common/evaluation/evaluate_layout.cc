#include "common/evaluation/evaluate_layout.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/curriculum/prompt_list.h"
#include "common/file_util.h"
#include "common/reward_name.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::evaluation {

int64_t EvaluateLayout::chunks_per_checkpoint() const {
  const auto n = static_cast<int64_t>(prompts.size());
  return (n + prompts_per_chunk - 1) / prompts_per_chunk;
}

int64_t EvaluateLayout::num_chunks() const {
  return chunks_per_checkpoint() * static_cast<int64_t>(checkpoints.size());
}

int EvaluateLayout::CheckpointOf(int64_t chunk) const { return static_cast<int>(chunk / chunks_per_checkpoint()); }

int64_t EvaluateLayout::FirstPrompt(int64_t chunk) const { return (chunk % chunks_per_checkpoint()) * prompts_per_chunk; }

int64_t EvaluateLayout::EndPrompt(int64_t chunk) const {
  return std::min<int64_t>(static_cast<int64_t>(prompts.size()), FirstPrompt(chunk) + prompts_per_chunk);
}

std::string EvaluateLayout::ImageFile(int checkpoint, int64_t prompt_index, int64_t seed) const {
  return absl::StrFormat("images/%s/%06d-%03d.png", checkpoints[checkpoint].name, prompt_index, seed);
}

std::string EvaluateLayout::EmbeddingsFile(int64_t chunk) const {
  return absl::StrFormat("embeddings/chunk-%05d.safetensors", chunk);
}

std::string EvaluateLayout::state_dir() const { return absl::StrCat(output, "/", kEvaluateStateDir); }

std::string EvaluateLayout::RecordPath(int64_t chunk) const {
  return absl::StrFormat("%s/chunk-%05d.json", state_dir(), chunk);
}

std::string UNetFolderOf(const EvaluateCheckpoint& checkpoint) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (checkpoint.unet.empty()) return (fs::path(checkpoint.model) / "unet").string();
  if (fs::exists(fs::path(checkpoint.unet) / "unet" / "config.json", ec) &&
      !fs::exists(fs::path(checkpoint.unet) / "config.json", ec)) {
    return (fs::path(checkpoint.unet) / "unet").string();
  }
  return checkpoint.unet;
}

absl::StatusOr<EvaluateLayout> LayOutEvaluateJob(const JobSpec& resolved) {
  const EvaluateSpec& e = *resolved.evaluate;
  EvaluateLayout layout;
  layout.output = resolved.output;
  ASSIGN_OR_RETURN(layout.prompts, curriculum::ReadPrompts(e.prompts));
  layout.checkpoints = e.checkpoints;
  for (const EvaluateReward& reward : e.rewards) layout.rewards.emplace_back(RewardNameString(reward.reward));
  for (size_t i = 0; i < e.checkpoints.size(); ++i) {
    if (e.checkpoints[i].name == e.base) layout.base = static_cast<int>(i);
  }
  layout.seeds = e.seeds;
  layout.prompts_per_chunk = e.prompts_per_chunk;
  // Everything that decides a chunk's bytes (the bootstrap only changes the report).
  Fingerprint h(0x6576616c);  // "eval"
  h.Add(resolved.seed);
  h.Add(static_cast<uint64_t>(e.seeds));
  h.Add(static_cast<uint64_t>(e.prompts_per_chunk));
  for (const EvaluateCheckpoint& checkpoint : e.checkpoints) {
    h.Add(checkpoint.name);
    h.Add(checkpoint.model);
    h.Add(checkpoint.unet);
    // Only when set: runs that name no adapter keep the fingerprint they had.
    if (!checkpoint.lora.empty()) h.Add(checkpoint.lora);
  }
  for (const EvaluateReward& reward : e.rewards) {
    h.Add(static_cast<uint64_t>(reward.reward));
    h.Add(reward.model);
  }
  h.Add(e.embedder);
  h.Add(e.sampling.negative_prompt);
  h.Add(static_cast<uint64_t>(e.sampling.inference_steps));
  h.AddDouble(e.sampling.guidance_scale);
  h.Add(static_cast<uint64_t>(e.sampling.height));
  h.Add(static_cast<uint64_t>(e.sampling.width));
  h.Add(static_cast<uint64_t>(resolved.precision));
  for (const std::string& prompt : layout.prompts) h.Add(prompt);
  layout.fingerprint = h.value();
  return layout;
}

absl::Status WriteEvaluateChunkRecord(const EvaluateLayout& layout, const EvaluateChunkRecord& record) {
  nlohmann::json images = nlohmann::json::array();
  for (const EvaluatedImage& image : record.images) {
    images.push_back({{"prompt_index", image.prompt_index},
                      {"seed", image.seed},
                      {"image", image.image},
                      {"scores", image.scores},
                      {"embedding_row", image.embedding_row}});
  }
  const nlohmann::json j = {{"chunk", record.chunk},           {"fingerprint", record.fingerprint},
                            {"checkpoint", record.checkpoint}, {"embeddings", record.embeddings},
                            {"images", images},                {"seconds", record.seconds}};
  std::error_code ec;
  std::filesystem::create_directories(layout.state_dir(), ec);
  return WriteFileAtomically(layout.RecordPath(record.chunk), j.dump(1) + "\n");
}

std::optional<EvaluateChunkRecord> FinishedEvaluateChunk(const EvaluateLayout& layout, int64_t chunk) {
  absl::StatusOr<std::string> text = ReadFileToString(layout.RecordPath(chunk));
  if (!text.ok()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  EvaluateChunkRecord record;
  try {
    record.chunk = j.at("chunk").get<int64_t>();
    record.fingerprint = j.at("fingerprint").get<std::string>();
    record.checkpoint = j.at("checkpoint").get<std::string>();
    record.embeddings = j.at("embeddings").get<std::string>();
    record.seconds = j.value("seconds", 0.0);
    for (const nlohmann::json& image : j.at("images")) {
      EvaluatedImage parsed{image.at("prompt_index").get<int64_t>(), image.at("seed").get<int64_t>(),
                            image.at("image").get<std::string>(),
                            image.at("scores").get<std::map<std::string, double>>(),
                            image.at("embedding_row").get<int64_t>()};
      record.images.push_back(std::move(parsed));
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (record.chunk != chunk || record.fingerprint != absl::StrFormat("%016x", layout.fingerprint) ||
      record.checkpoint != layout.checkpoints[layout.CheckpointOf(chunk)].name ||
      static_cast<int64_t>(record.images.size()) != layout.ImagesIn(chunk)) {
    return std::nullopt;
  }
  for (const EvaluatedImage& image : record.images) {
    if (image.prompt_index < layout.FirstPrompt(chunk) || image.prompt_index >= layout.EndPrompt(chunk) ||
        image.seed < 0 || image.seed >= layout.seeds) {
      return std::nullopt;
    }
    for (const std::string& reward : layout.rewards) {
      auto it = image.scores.find(reward);
      if (it == image.scores.end() || !std::isfinite(it->second)) return std::nullopt;
    }
  }
  std::error_code ec;
  if (!std::filesystem::exists(absl::StrCat(layout.output, "/", record.embeddings), ec)) return std::nullopt;
  return record;
}

}  // namespace align::evaluation
