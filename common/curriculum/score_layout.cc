#include "common/curriculum/score_layout.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/curriculum/generate_layout.h"
#include "common/file_util.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::curriculum {
namespace fs = std::filesystem;
namespace {

std::optional<int64_t> OptionalInt(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number_integer()) return std::nullopt;
  return j[key].get<int64_t>();
}

nlohmann::json RowOf(const ScoreItem& item) {
  nlohmann::json row = {{"image", item.image}, {"prompt", item.prompt}};
  if (item.prompt_index) row["prompt_index"] = *item.prompt_index;
  if (item.sample) row["sample"] = *item.sample;
  if (item.sample_id) row["sample_id"] = *item.sample_id;
  return row;
}

// A .jsonl of {"image", "prompt"} (or "caption").
absl::StatusOr<std::vector<ScoreItem>> ReadImageList(const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  const fs::path dir = fs::path(path).parent_path();
  std::vector<ScoreItem> items;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    if (line.find_first_not_of(" \t\r") == absl::string_view::npos) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const char* prompt_key = j.is_object() && j.contains("prompt") ? "prompt" : "caption";
    if (!j.is_object() || !j.contains("image") || !j["image"].is_string() || !j.contains(prompt_key) ||
        !j[prompt_key].is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected {\"image\": path, \"prompt\": text}"));
    }
    ScoreItem item;
    item.image = j["image"].get<std::string>();
    item.image_path = fs::path(item.image).is_absolute() ? item.image : (dir / item.image).lexically_normal().string();
    item.prompt = j[prompt_key].get<std::string>();
    item.prompt_index = OptionalInt(j, "prompt_index");
    item.sample = OptionalInt(j, "sample");
    item.sample_id = OptionalInt(j, "sample_id");
    items.push_back(std::move(item));
  }
  if (items.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no image"));
  return items;
}

}  // namespace

int64_t ScoreLayout::num_chunks() const {
  return (static_cast<int64_t>(items.size()) + images_per_chunk - 1) / images_per_chunk;
}
int64_t ScoreLayout::FirstItem(int64_t chunk) const { return chunk * images_per_chunk; }
int64_t ScoreLayout::EndItem(int64_t chunk) const {
  return std::min<int64_t>(static_cast<int64_t>(items.size()), (chunk + 1) * images_per_chunk);
}
std::string ScoreLayout::state_dir() const { return absl::StrCat(output, "/", kScoreStateDir); }
std::string ScoreLayout::RecordPath(int64_t chunk) const {
  return absl::StrFormat("%s/chunk-%05d.json", state_dir(), chunk);
}

absl::StatusOr<ScoreLayout> LayOutScoreJob(const JobSpec& resolved) {
  const ScoreSpec& s = *resolved.score;
  ScoreLayout layout;
  layout.output = resolved.output;
  layout.reward = s.reward;
  layout.images_per_chunk = s.images_per_chunk;
  std::error_code ec;
  if (fs::is_directory(s.images, ec)) {
    absl::StatusOr<std::vector<GeneratedIndexRow>> rows = ReadGenerateIndex(s.images);
    if (!rows.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("score.images: ", s.images,
                                                     " is not a finished generate job's output: ",
                                                     rows.status().message()));
    }
    for (const GeneratedIndexRow& row : *rows) {
      ScoreItem item;
      item.image = row.image;
      item.image_path = (fs::path(s.images) / row.image).lexically_normal().string();
      item.prompt = row.prompt;
      item.prompt_index = row.prompt_index;
      item.sample = row.sample;
      item.sample_id = row.sample_id;
      layout.items.push_back(std::move(item));
    }
  } else {
    absl::StatusOr<std::vector<ScoreItem>> items = ReadImageList(s.images);
    if (!items.ok()) return absl::InvalidArgumentError(absl::StrCat("score.images: ", items.status().message()));
    layout.items = *std::move(items);
  }
  Fingerprint h(0x73636f);  // "sco"
  h.Add(static_cast<uint64_t>(s.reward));
  h.Add(s.reward_model);
  h.Add(static_cast<uint64_t>(s.images_per_chunk));
  for (const ScoreItem& item : layout.items) {
    h.Add(item.image_path);
    h.Add(item.prompt);
  }
  layout.fingerprint = h.value();
  return layout;
}

absl::Status WriteScoreChunkRecord(const ScoreLayout& layout, const ScoreChunkRecord& record) {
  for (size_t i = 0; i < record.scores.size(); ++i) {
    if (!std::isfinite(record.scores[i])) {
      const ScoreItem& item = layout.items[layout.FirstItem(record.chunk) + i];
      return absl::InvalidArgumentError(
          absl::StrCat("the reward model gave a non-finite score for ", item.image_path));
    }
  }
  const nlohmann::json j = {{"chunk", record.chunk},
                            {"fingerprint", record.fingerprint},
                            {"scores", record.scores},
                            {"seconds", record.seconds}};
  std::error_code ec;
  fs::create_directories(layout.state_dir(), ec);
  return WriteFileAtomically(layout.RecordPath(record.chunk), j.dump(1) + "\n");
}

std::optional<ScoreChunkRecord> FinishedScoreChunk(const ScoreLayout& layout, int64_t chunk) {
  absl::StatusOr<std::string> text = ReadFileToString(layout.RecordPath(chunk));
  if (!text.ok()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  ScoreChunkRecord record;
  try {
    if (j.is_discarded()) return std::nullopt;
    record.chunk = j.at("chunk").get<int64_t>();
    record.fingerprint = j.at("fingerprint").get<std::string>();
    record.scores = j.at("scores").get<std::vector<double>>();
    record.seconds = j.value("seconds", 0.0);
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (record.chunk != chunk || record.fingerprint != absl::StrFormat("%016x", layout.fingerprint) ||
      static_cast<int64_t>(record.scores.size()) != layout.EndItem(chunk) - layout.FirstItem(chunk)) {
    return std::nullopt;
  }
  return record;
}

absl::Status WriteScores(const ScoreLayout& layout) {
  std::string lines;
  for (int64_t chunk = 0; chunk < layout.num_chunks(); ++chunk) {
    std::optional<ScoreChunkRecord> record = FinishedScoreChunk(layout, chunk);
    if (!record) {
      return absl::FailedPreconditionError(
          absl::StrCat("chunk ", chunk, " has no finished record (", layout.RecordPath(chunk), ")"));
    }
    for (size_t i = 0; i < record->scores.size(); ++i) {
      nlohmann::json row = RowOf(layout.items[layout.FirstItem(chunk) + i]);
      row["score"] = record->scores[i];
      row["reward"] = std::string(RewardNameString(layout.reward));
      absl::StrAppend(&lines, row.dump(), "\n");
    }
  }
  return WriteFileAtomically(absl::StrCat(layout.output, "/", kScoresFile), lines);
}

absl::StatusOr<std::vector<ScoredRow>> ReadScores(const std::string& score_output) {
  const std::string path = absl::StrCat(score_output, "/", kScoresFile);
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  std::vector<ScoredRow> rows;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_number;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    try {
      if (j.is_discarded()) throw std::invalid_argument("not JSON");
      ScoredRow row;
      row.item.image = j.at("image").get<std::string>();
      row.item.image_path = row.item.image;
      row.item.prompt = j.at("prompt").get<std::string>();
      row.item.prompt_index = OptionalInt(j, "prompt_index");
      row.item.sample = OptionalInt(j, "sample");
      row.item.sample_id = OptionalInt(j, "sample_id");
      row.score = j.at("score").get<double>();
      rows.push_back(std::move(row));
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(path, ":", line_number, ": not a score row (", e.what(), ")"));
    }
  }
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no score"));
  return rows;
}

}  // namespace align::curriculum
