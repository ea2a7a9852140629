#include "common/dataset/synthetic.h"

#include <cmath>
#include <memory>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/dataset/writer.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr float kContentStd = 0.5f;  // shared by w and l: carries no preference
constexpr float kNoiseStd = 0.3f;    // independent per latent
constexpr float kMinStrength = 0.25f;
constexpr float kMaxStrength = 1.0f;
constexpr int kTemplateWaves = 3;  // cosines per channel

// Streams of the counter-based generator, so each quantity of each pair has
// its own sequence independent of generation order.
enum Stream : uint64_t { kTemplate = 1, kPairScalars, kContent, kNoiseW, kNoiseL, kPrompt, kPooled };
// Keeps these streams apart from training's (RandomStream) under the same seed.
constexpr uint64_t kSyntheticDomain = 0x53796e7468657469ull;  // "Syntheti"

// Counter-based (common/random.h): the numbers of a pair depend only on
// (seed, stream, pair id), never on how many pairs came before it. No std::
// distributions: their output differs between standard libraries.
class Rng {
 public:
  Rng(uint64_t seed, uint64_t key, uint64_t stream)
      : rng_(DeriveSeed(seed, {kSyntheticDomain, stream, key})) {}

  uint64_t Next() { return rng_.Next(); }
  // Uniform in (0, 1): never 0, so log() in Box-Muller stays finite.
  double Uniform() { return (static_cast<double>(Next() >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
  double Normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    const double r = std::sqrt(-2.0 * std::log(Uniform()));
    const double theta = 2.0 * kPi * Uniform();
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
  }
  void FillNormal(std::vector<float>& out, float std_dev) {
    for (float& v : out) v = static_cast<float>(Normal()) * std_dev;
  }

 private:
  CounterRng rng_;
  bool has_spare_ = false;
  double spare_ = 0;
};

absl::Status WritePair(DatasetWriter& writer, const std::string& split, int64_t pair_id,
                       const SyntheticOptions& options, const std::vector<float>& style,
                       const std::vector<float>& time_ids) {
  const PairShape& shape = options.shape;
  const uint64_t key = static_cast<uint64_t>(pair_id);
  Rng scalars(options.seed, key, kPairScalars);
  const float u = static_cast<float>(scalars.Uniform());
  const float strength = kMinStrength + (kMaxStrength - kMinStrength) * u;

  std::vector<float> content(shape.latent_numel()), latents_w(content.size()), latents_l(content.size());
  Rng(options.seed, key, kContent).FillNormal(content, kContentStd);
  Rng(options.seed, key, kNoiseW).FillNormal(latents_w, kNoiseStd);
  Rng(options.seed, key, kNoiseL).FillNormal(latents_l, kNoiseStd);
  for (size_t i = 0; i < content.size(); ++i) {
    latents_w[i] += content[i] + strength * style[i];
    latents_l[i] += content[i] - strength * style[i];
  }
  std::vector<float> prompt(shape.prompt_numel()), pooled(shape.pooled_dim);
  Rng(options.seed, key, kPrompt).FillNormal(prompt, 1.0f);
  Rng(options.seed, key, kPooled).FillNormal(pooled, 1.0f);

  PairRecord record;
  record.latents_w = latents_w;
  record.latents_l = latents_l;
  record.prompt_embeds = prompt;
  record.pooled_prompt_embeds = pooled;
  record.time_ids = time_ids;
  record.pair_id = pair_id;
  record.difficulty = 1.0f - u;  // a faint template is a hard pair
  // A reward model would score the strongly styled winner far above its loser.
  record.score_w = 0.5f + 0.5f * strength;
  record.score_l = 0.5f - 0.5f * strength;
  return writer.Add(split, record);
}

}  // namespace

std::vector<float> SyntheticStyleTemplate(const PairShape& shape, uint64_t seed) {
  const int64_t h = shape.latent_height, w = shape.latent_width;
  std::vector<float> style(shape.latent_numel(), 0.0f);
  for (int64_t c = 0; c < shape.latent_channels; ++c) {
    Rng rng(seed, static_cast<uint64_t>(c), kTemplate);
    float* plane = style.data() + c * h * w;
    // A few low-frequency waves (at most 2 periods across the latent): smooth
    // enough for the UNet's first convolutions to pick up.
    for (int k = 0; k < kTemplateWaves; ++k) {
      const double fy = static_cast<double>(rng.Next() % 3);
      const double fx = static_cast<double>(rng.Next() % 3);
      const double phase = 2.0 * kPi * rng.Uniform();
      const double amplitude = 0.5 + rng.Uniform();
      for (int64_t y = 0; y < h; ++y) {
        for (int64_t x = 0; x < w; ++x) {
          plane[y * w + x] +=
              static_cast<float>(amplitude * std::cos(2.0 * kPi * (fy * y / h + fx * x / w) + phase));
        }
      }
    }
    double sum_sq = 0;
    for (int64_t i = 0; i < h * w; ++i) sum_sq += double{plane[i]} * plane[i];
    const double rms = std::sqrt(sum_sq / static_cast<double>(h * w));
    // All-zero-frequency draws give a constant plane, which still has RMS > 0
    // unless the phases cancel exactly; fall back to a constant 1 then.
    for (int64_t i = 0; i < h * w; ++i) {
      plane[i] = rms > 1e-6 ? static_cast<float>(plane[i] / rms) : 1.0f;
    }
  }
  return style;
}

absl::StatusOr<Manifest> WriteSyntheticDataset(const std::string& dir, const SyntheticOptions& options) {
  if (options.train_pairs < 1) {
    return absl::InvalidArgumentError(absl::StrCat("train pairs must be >= 1, got ", options.train_pairs));
  }
  if (options.heldout_pairs < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("heldout pairs must be >= 0, got ", options.heldout_pairs));
  }
  WriterOptions writer_options;
  writer_options.pairs_per_shard = options.pairs_per_shard;
  writer_options.float_dtype = options.float_dtype;
  writer_options.has_difficulty = true;
  writer_options.has_scores = true;
  writer_options.overwrite = options.overwrite;
  writer_options.source = options.source.is_object() ? options.source : nlohmann::json::object();
  writer_options.source["generator"] = "synthetic";
  writer_options.source["seed"] = options.seed;
  writer_options.source["preference"] =
      "x_w = content + s*T + noise, x_l = content - s*T + noise; T a fixed smooth template";
  ASSIGN_OR_RETURN(std::unique_ptr<DatasetWriter> writer,
                   DatasetWriter::Open(dir, options.shape, writer_options));

  const std::vector<float> style = SyntheticStyleTemplate(options.shape, options.seed);
  // SDXL micro-conditioning for an unscaled, uncropped image of the latent's size.
  const float pixel_h = static_cast<float>(options.shape.latent_height * 8);
  const float pixel_w = static_cast<float>(options.shape.latent_width * 8);
  const std::vector<float> time_ids = {pixel_h, pixel_w, 0.0f, 0.0f, pixel_h, pixel_w};
  for (int64_t i = 0; i < options.train_pairs; ++i) {
    RETURN_IF_ERROR(WritePair(*writer, "train", i, options, style, time_ids));
  }
  for (int64_t i = 0; i < options.heldout_pairs; ++i) {
    RETURN_IF_ERROR(WritePair(*writer, "heldout", options.train_pairs + i, options, style, time_ids));
  }
  return writer->Finish();
}

}  // namespace align::data
