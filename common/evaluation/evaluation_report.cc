#include "common/evaluation/evaluation_report.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/evaluation/contact_sheet.h"
#include "common/evaluation/tradeoff_plot.h"
#include "common/file_util.h"
#include "common/imaging/decode_image.h"
#include "common/imaging/encode_image.h"
#include "common/safetensors/reader.h"
#include "common/status_macros.h"

namespace align::evaluation {
namespace {

using nlohmann::json;

// The embeddings of one chunk: rows [n, dim].
absl::StatusOr<std::vector<std::vector<float>>> ReadEmbeddings(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file, safetensors::File::Open(path));
  ASSIGN_OR_RETURN(safetensors::TensorView view, file->Get("embeddings"));
  if (view.info->dtype != safetensors::DType::kF32 || view.info->shape.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": \"embeddings\" must be F32 [images, dim]"));
  }
  const int64_t n = view.info->shape[0], dim = view.info->shape[1];
  std::vector<std::vector<float>> rows(static_cast<size_t>(n), std::vector<float>(static_cast<size_t>(dim)));
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(rows[i].data(), view.data + static_cast<size_t>(i * dim) * sizeof(float), dim * sizeof(float));
  }
  return rows;
}

json Optional(const std::optional<double>& value) { return value ? json(*value) : json(nullptr); }

const json& At(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) throw std::invalid_argument(absl::StrCat(where, " has no \"", key, "\""));
  return j.at(key);
}

std::string Fixed(const std::optional<double>& value, int decimals) {
  return value ? absl::StrFormat("%.*f", decimals, *value) : std::string("-");
}

}  // namespace

absl::StatusOr<CollectedEvaluation> CollectEvaluation(const EvaluateLayout& layout) {
  CollectedEvaluation collected;
  EvaluationData& data = collected.data;
  for (const EvaluateCheckpoint& checkpoint : layout.checkpoints) data.checkpoints.push_back(checkpoint.name);
  data.rewards = layout.rewards;
  data.base = layout.base;
  data.prompts = static_cast<int64_t>(layout.prompts.size());
  data.seeds = layout.seeds;
  for (int64_t chunk = 0; chunk < layout.num_chunks(); ++chunk) {
    std::optional<EvaluateChunkRecord> record = FinishedEvaluateChunk(layout, chunk);
    if (!record) {
      return absl::FailedPreconditionError(
          absl::StrCat("chunk ", chunk, " has no finished record (", layout.RecordPath(chunk), ")"));
    }
    const std::string embeddings_path = absl::StrCat(layout.output, "/", record->embeddings);
    ASSIGN_OR_RETURN(std::vector<std::vector<float>> embeddings, ReadEmbeddings(embeddings_path));
    const int checkpoint = layout.CheckpointOf(chunk);
    for (const EvaluatedImage& image : record->images) {
      if (image.embedding_row < 0 || image.embedding_row >= static_cast<int64_t>(embeddings.size())) {
        return absl::InvalidArgumentError(absl::StrCat(embeddings_path, ": has no row ", image.embedding_row,
                                                       " (", layout.RecordPath(chunk), ")"));
      }
      ImageRecord r;
      r.checkpoint = checkpoint;
      r.prompt = image.prompt_index;
      r.seed = image.seed;
      for (const std::string& reward : layout.rewards) r.scores.push_back(image.scores.at(reward));
      r.embedding = embeddings[image.embedding_row];
      data.images.push_back(std::move(r));
      const json line = {{"checkpoint", record->checkpoint},
                         {"prompt_index", image.prompt_index},
                         {"prompt", layout.prompts[image.prompt_index]},
                         {"seed", image.seed},
                         {"sample_id", layout.SampleId(image.prompt_index, image.seed)},
                         {"image", image.image},
                         {"scores", image.scores},
                         {"embeddings", record->embeddings},
                         {"embedding_row", image.embedding_row}};
      absl::StrAppend(&collected.records_jsonl, line.dump(), "\n");
    }
  }
  return collected;
}

json ReportJson(const EvaluateLayout& layout, const EvaluationFigures& figures) {
  json checkpoints = json::array();
  for (size_t c = 0; c < figures.checkpoints.size(); ++c) {
    const CheckpointFigures& cf = figures.checkpoints[c];
    json rewards = json::object();
    for (size_t r = 0; r < figures.rewards.size(); ++r) {
      const RewardFigures& rf = cf.rewards[r];
      rewards[figures.rewards[r]] = {
          {"mean", rf.mean},
          {"std", rf.std},
          {"prompt_variance", rf.prompt_variance},
          {"win_rate", rf.win_rate},
          {"win_rate_ci", rf.win_rate_ci_low ? json::array({*rf.win_rate_ci_low, *rf.win_rate_ci_high}) : json(nullptr)}};
    }
    json entry = {{"name", cf.name}, {"is_base", cf.is_base}, {"diversity", Optional(cf.diversity)}, {"rewards", rewards}};
    if (c < layout.checkpoints.size()) {
      entry["model"] = layout.checkpoints[c].model;
      entry["unet"] = layout.checkpoints[c].unet;
    }
    checkpoints.push_back(std::move(entry));
  }
  std::string base;
  for (const CheckpointFigures& cf : figures.checkpoints) {
    if (cf.is_base) base = cf.name;
  }
  return {
      {"prompts", figures.prompts},
      {"seeds", figures.seeds},
      {"images", figures.prompts * figures.seeds * static_cast<int64_t>(figures.checkpoints.size())},
      {"rewards", figures.rewards},
      {"base", base},
      {"bootstrap",
       {{"resamples", figures.bootstrap.resamples},
        {"seed", figures.bootstrap.seed},
        {"method", "paired bootstrap over prompts: each resample draws `prompts` prompt indices with replacement, "
                   "uniform from CounterRng(DeriveSeed(seed, {0x626f6f74})) (common/random.h), shared by every "
                   "checkpoint and reward; the interval is the 2.5th and 97.5th percentiles, linear interpolation"}}},
      {"formulas",
       {{"mean", "mean over the prompts x seeds images of the reward"},
        {"std", "population standard deviation of the reward over those images"},
        {"prompt_variance", "mean over prompts of the population variance of the reward over that prompt's seeds"},
        {"win_rate", "mean over (prompt, seed) of 1 if the reward beats the base's image of the same prompt and "
                     "seed (same initial noise), 1/2 if equal, 0 if lower"},
        {"win_rate_ci", "[2.5th, 97.5th] percentiles of the win rate over the bootstrap resamples"},
        {"diversity", "mean over prompts of the mean over pairs of seeds i < j of 1 - cos(e_i, e_j), e the CLIP "
                      "image embeddings; null with one seed"}}},
      {"checkpoints", checkpoints},
      {"files",
       {{"records", kRecordsFile}, {"contact_sheet", kContactSheetFile}, {"reward_vs_diversity", kScatterFile}}},
  };
}

absl::StatusOr<EvaluationFigures> ParseReport(const std::string& json_text) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return absl::InvalidArgumentError("the report is not JSON");
  EvaluationFigures figures;
  try {
    figures.prompts = At(j, "prompts", "the report").get<int64_t>();
    figures.seeds = At(j, "seeds", "the report").get<int64_t>();
    figures.rewards = At(j, "rewards", "the report").get<std::vector<std::string>>();
    const json& bootstrap = At(j, "bootstrap", "the report");
    figures.bootstrap.resamples = At(bootstrap, "resamples", "bootstrap").get<int64_t>();
    figures.bootstrap.seed = At(bootstrap, "seed", "bootstrap").get<uint64_t>();
    for (const json& c : At(j, "checkpoints", "the report")) {
      CheckpointFigures cf;
      cf.name = At(c, "name", "a checkpoint").get<std::string>();
      cf.is_base = At(c, "is_base", cf.name).get<bool>();
      const json& diversity = At(c, "diversity", cf.name);
      if (!diversity.is_null()) cf.diversity = diversity.get<double>();
      const json& rewards = At(c, "rewards", cf.name);
      for (const std::string& reward : figures.rewards) {
        const std::string where = absl::StrCat(cf.name, "'s ", reward);
        const json& r = At(rewards, reward.c_str(), cf.name);
        RewardFigures rf;
        rf.mean = At(r, "mean", where).get<double>();
        rf.std = At(r, "std", where).get<double>();
        rf.prompt_variance = At(r, "prompt_variance", where).get<double>();
        rf.win_rate = At(r, "win_rate", where).get<double>();
        const json& ci = At(r, "win_rate_ci", where);
        if (!ci.is_null()) {
          rf.win_rate_ci_low = ci.at(0).get<double>();
          rf.win_rate_ci_high = ci.at(1).get<double>();
        }
        cf.rewards.push_back(rf);
      }
      figures.checkpoints.push_back(std::move(cf));
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("the report is malformed: ", e.what()));
  }
  return figures;
}

std::string FormatReportTable(const EvaluationFigures& figures) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"checkpoint"};
  for (const std::string& reward : figures.rewards) header.push_back(reward);
  for (const std::string& reward : figures.rewards) header.push_back(absl::StrCat("win ", reward, " [95% CI]"));
  header.push_back("diversity");
  rows.push_back(header);
  for (const CheckpointFigures& cf : figures.checkpoints) {
    std::vector<std::string> row = {cf.is_base ? cf.name + " *" : cf.name};
    for (const RewardFigures& rf : cf.rewards) row.push_back(absl::StrFormat("%.4f", rf.mean));
    for (const RewardFigures& rf : cf.rewards) {
      row.push_back(rf.win_rate_ci_low ? absl::StrFormat("%.3f [%.3f, %.3f]", rf.win_rate, *rf.win_rate_ci_low,
                                                         *rf.win_rate_ci_high)
                                       : absl::StrFormat("%.3f", rf.win_rate));
    }
    row.push_back(Fixed(cf.diversity, 4));
    rows.push_back(std::move(row));
  }
  std::vector<size_t> widths(header.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      absl::StrAppend(&line, i == 0 ? "" : "  ", row[i], std::string(widths[i] - row[i].size(), ' '));
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  absl::StrAppend(&out, figures.prompts, " prompts x ", figures.seeds, " seeds per checkpoint; * the base; win rates ",
                  "against it, paired by prompt and seed (ties 1/2)",
                  figures.bootstrap.resamples > 0 ? absl::StrCat(", CI from ", figures.bootstrap.resamples,
                                                                 " bootstrap resamples of the prompts")
                                                  : "",
                  "\n");
  return out;
}

absl::StatusOr<EvaluationFigures> WriteEvaluationReport(const EvaluateLayout& layout,
                                                        const BootstrapOptions& bootstrap) {
  ASSIGN_OR_RETURN(CollectedEvaluation collected, CollectEvaluation(layout));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(layout.output, "/", kRecordsFile), collected.records_jsonl));
  ASSIGN_OR_RETURN(EvaluationFigures figures, ComputeFigures(collected.data, bootstrap));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(layout.output, "/", kReportFile),
                                      ReportJson(layout, figures).dump(1) + "\n"));

  // Contact sheet: the first prompts, seed 0 of every checkpoint.
  const int64_t rows = std::min<int64_t>(kContactSheetMaxRows, static_cast<int64_t>(layout.prompts.size()));
  std::vector<std::string> row_labels(layout.prompts.begin(), layout.prompts.begin() + rows);
  std::vector<std::vector<imaging::RgbImage>> images(static_cast<size_t>(rows));
  for (int64_t p = 0; p < rows; ++p) {
    for (int c = 0; c < static_cast<int>(layout.checkpoints.size()); ++c) {
      const std::string path = absl::StrCat(layout.output, "/", layout.ImageFile(c, p, 0));
      ASSIGN_OR_RETURN(const std::string bytes, ReadFileToString(path));
      ASSIGN_OR_RETURN(imaging::RgbImage image, imaging::DecodeImage(bytes, path));
      images[p].push_back(std::move(image));
    }
  }
  ASSIGN_OR_RETURN(const imaging::RgbImage sheet,
                   RenderContactSheet(row_labels, collected.data.checkpoints, images, kContactSheetCell));
  ASSIGN_OR_RETURN(const std::string sheet_png, imaging::EncodePng(sheet));
  RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(layout.output, "/", kContactSheetFile), sheet_png));

  // Scatter: mean reward against diversity, one panel per reward (none with one seed).
  if (figures.seeds >= 2) {
    ASSIGN_OR_RETURN(const plot::Chart chart, RenderTradeoffPlot({{"", figures}}));
    ASSIGN_OR_RETURN(const std::string chart_png, imaging::EncodePng(chart.image));
    RETURN_IF_ERROR(WriteFileAtomically(absl::StrCat(layout.output, "/", kScatterFile), chart_png));
  }
  return figures;
}

}  // namespace align::evaluation
