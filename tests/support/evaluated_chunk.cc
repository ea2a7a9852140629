#include "tests/support/evaluated_chunk.h"

#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/imaging/encode_image.h"
#include "common/safetensors/writer.h"
#include "common/status_macros.h"

namespace align::testing {

imaging::RgbImage EvaluatedImageOf(int checkpoint) {
  imaging::RgbImage image(48, 32);
  for (uint8_t& v : image.pixels) v = static_cast<uint8_t>(40 + 80 * checkpoint);
  return image;
}

absl::Status WriteEvaluatedChunk(const evaluation::EvaluateLayout& layout, int64_t chunk) {
  namespace fs = std::filesystem;
  const int c = layout.CheckpointOf(chunk);
  evaluation::EvaluateChunkRecord record;
  record.chunk = chunk;
  record.fingerprint = absl::StrFormat("%016x", layout.fingerprint);
  record.checkpoint = layout.checkpoints[c].name;
  record.embeddings = layout.EmbeddingsFile(chunk);
  ASSIGN_OR_RETURN(const std::string png, imaging::EncodePng(EvaluatedImageOf(c)));
  std::vector<float> embeddings;
  std::error_code ec;
  for (int64_t p = layout.FirstPrompt(chunk); p < layout.EndPrompt(chunk); ++p) {
    for (int64_t k = 0; k < layout.seeds; ++k) {
      const std::string file = layout.ImageFile(c, p, k);
      fs::create_directories(fs::path(layout.output + "/" + file).parent_path(), ec);
      RETURN_IF_ERROR(WriteFileAtomically(layout.output + "/" + file, png));
      evaluation::EvaluatedImage image{p, k, file, {}, static_cast<int64_t>(embeddings.size() / 3)};
      for (const std::string& reward : layout.rewards) {
        image.scores[reward] = reward == "aesthetic" ? 5 - c * 0.5 + 0.01 * p : 20 + c + 0.1 * p - 0.3 * k;
      }
      record.images.push_back(image);
      embeddings.insert(embeddings.end(), {1.0f, static_cast<float>(k * c), 0.5f});
    }
  }
  safetensors::Writer writer;
  RETURN_IF_ERROR(writer.Add("embeddings", safetensors::DType::kF32, {static_cast<int64_t>(embeddings.size() / 3), 3},
                             embeddings.data(), embeddings.size() * sizeof(float)));
  fs::create_directories(layout.output + "/embeddings", ec);
  RETURN_IF_ERROR(writer.WriteFile(layout.output + "/" + record.embeddings));
  return evaluation::WriteEvaluateChunkRecord(layout, record);
}

}  // namespace align::testing
