#include "common/curriculum/generate_layout.h"

#include <algorithm>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "common/curriculum/prompt_list.h"
#include "common/file_util.h"
#include "common/run_fingerprint.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::curriculum {

int64_t GenerateLayout::num_chunks() const {
  const auto n = static_cast<int64_t>(prompts.size());
  return (n + prompts_per_chunk - 1) / prompts_per_chunk;
}

int64_t GenerateLayout::FirstPrompt(int64_t chunk) const { return chunk * prompts_per_chunk; }

int64_t GenerateLayout::EndPrompt(int64_t chunk) const {
  return std::min<int64_t>(static_cast<int64_t>(prompts.size()), (chunk + 1) * prompts_per_chunk);
}

std::string GenerateLayout::ImageFile(int64_t prompt_index, int64_t sample) const {
  return absl::StrFormat("images/%06d-%03d.%s", prompt_index, sample,
                         image_format == ImageFileFormat::kJpeg ? "jpg" : "png");
}

std::string GenerateLayout::LatentsFile(int64_t chunk) const {
  return absl::StrFormat("latents/chunk-%05d.safetensors", chunk);
}

std::string GenerateLayout::state_dir() const { return absl::StrCat(output, "/", kGenerateStateDir); }

std::string GenerateLayout::RecordPath(int64_t chunk) const {
  return absl::StrFormat("%s/chunk-%05d.json", state_dir(), chunk);
}

absl::StatusOr<GenerateLayout> LayOutGenerateJob(const JobSpec& resolved) {
  const GenerateSpec& g = *resolved.generate;
  GenerateLayout layout;
  layout.output = resolved.output;
  ASSIGN_OR_RETURN(layout.prompts, ReadPrompts(g.prompts));
  layout.samples_per_prompt = g.samples_per_prompt;
  layout.prompts_per_chunk = g.prompts_per_chunk;
  layout.image_format = g.image_format;
  // Everything that decides a chunk's bytes.
  Fingerprint h(0x67656e);  // "gen"
  h.Add(resolved.model);
  h.Add(resolved.seed);
  h.Add(static_cast<uint64_t>(g.samples_per_prompt));
  h.Add(static_cast<uint64_t>(g.prompts_per_chunk));
  h.Add(g.sampling.negative_prompt);
  h.Add(static_cast<uint64_t>(g.sampling.inference_steps));
  h.AddDouble(g.sampling.guidance_scale);
  h.Add(static_cast<uint64_t>(g.sampling.height));
  h.Add(static_cast<uint64_t>(g.sampling.width));
  h.Add(static_cast<uint64_t>(g.image_format));
  h.Add(static_cast<uint64_t>(g.jpeg_quality));
  for (const std::string& prompt : layout.prompts) h.Add(prompt);
  layout.fingerprint = h.value();
  return layout;
}

absl::Status WriteGenerateChunkRecord(const GenerateLayout& layout, const GenerateChunkRecord& record) {
  nlohmann::json images = nlohmann::json::array();
  for (const GeneratedImage& image : record.images) {
    images.push_back({{"prompt_index", image.prompt_index},
                      {"sample", image.sample},
                      {"sample_id", image.sample_id},
                      {"image", image.image},
                      {"latents_row", image.latents_row}});
  }
  const nlohmann::json j = {{"chunk", record.chunk},       {"fingerprint", record.fingerprint},
                            {"latents", record.latents},   {"images", images},
                            {"seconds", record.seconds}};
  std::error_code ec;
  std::filesystem::create_directories(layout.state_dir(), ec);
  return WriteFileAtomically(layout.RecordPath(record.chunk), j.dump(1) + "\n");
}

std::optional<GenerateChunkRecord> FinishedGenerateChunk(const GenerateLayout& layout, int64_t chunk) {
  absl::StatusOr<std::string> text = ReadFileToString(layout.RecordPath(chunk));
  if (!text.ok()) return std::nullopt;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  GenerateChunkRecord record;
  try {
    record.chunk = j.at("chunk").get<int64_t>();
    record.fingerprint = j.at("fingerprint").get<std::string>();
    record.latents = j.at("latents").get<std::string>();
    record.seconds = j.value("seconds", 0.0);
    for (const nlohmann::json& image : j.at("images")) {
      record.images.push_back({image.at("prompt_index").get<int64_t>(), image.at("sample").get<int64_t>(),
                               image.at("sample_id").get<int64_t>(), image.at("image").get<std::string>(),
                               image.at("latents_row").get<int64_t>()});
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  const int64_t expected_images = (layout.EndPrompt(chunk) - layout.FirstPrompt(chunk)) * layout.samples_per_prompt;
  std::error_code ec;
  if (record.chunk != chunk || record.fingerprint != absl::StrFormat("%016x", layout.fingerprint) ||
      static_cast<int64_t>(record.images.size()) != expected_images ||
      !std::filesystem::exists(absl::StrCat(layout.output, "/", record.latents), ec)) {
    return std::nullopt;
  }
  return record;
}

absl::Status WriteGenerateIndex(const GenerateLayout& layout) {
  std::string lines;
  for (int64_t chunk = 0; chunk < layout.num_chunks(); ++chunk) {
    std::optional<GenerateChunkRecord> record = FinishedGenerateChunk(layout, chunk);
    if (!record) {
      return absl::FailedPreconditionError(
          absl::StrCat("chunk ", chunk, " has no finished record (", layout.RecordPath(chunk), ")"));
    }
    for (const GeneratedImage& image : record->images) {
      const nlohmann::json row = {{"prompt_index", image.prompt_index},
                                  {"prompt", layout.prompts[image.prompt_index]},
                                  {"sample", image.sample},
                                  {"sample_id", image.sample_id},
                                  {"image", image.image},
                                  {"latents", record->latents},
                                  {"latents_row", image.latents_row}};
      absl::StrAppend(&lines, row.dump(), "\n");
    }
  }
  return WriteFileAtomically(absl::StrCat(layout.output, "/", kGenerateIndexFile), lines);
}

absl::StatusOr<std::vector<GeneratedIndexRow>> ReadGenerateIndex(const std::string& generate_output) {
  const std::string path = absl::StrCat(generate_output, "/", kGenerateIndexFile);
  ASSIGN_OR_RETURN(const std::string text, ReadFileToString(path));
  std::vector<GeneratedIndexRow> rows;
  int64_t line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_number;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    try {
      if (j.is_discarded()) throw std::invalid_argument("not JSON");
      rows.push_back({j.at("prompt_index").get<int64_t>(), j.at("prompt").get<std::string>(),
                      j.at("sample").get<int64_t>(), j.at("sample_id").get<int64_t>(), j.at("image").get<std::string>(),
                      j.at("latents").get<std::string>(), j.at("latents_row").get<int64_t>()});
    } catch (const std::exception& e) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": not a generate index row (", e.what(), ")"));
    }
  }
  if (rows.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": holds no image"));
  return rows;
}

}  // namespace align::curriculum
