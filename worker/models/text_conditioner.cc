#include "worker/models/text_conditioner.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::models {
namespace {

namespace fs = std::filesystem;

// SDXL's second tokenizer pads with "!" (its special_tokens_map.json).
constexpr char kSecondPadToken[] = "!";

// model_index.json's force_zeros_for_empty_prompt, or `fallback` without the
// file or the key.
absl::StatusOr<bool> ForceZerosForEmptyPrompt(const diffusers::ModelFolder& model, bool fallback) {
  const std::string path = model.ModelIndexPath();
  if (!fs::exists(path)) return fallback;
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  const nlohmann::json index = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!index.is_object()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a JSON object"));
  auto it = index.find("force_zeros_for_empty_prompt");
  if (it == index.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": force_zeros_for_empty_prompt must be true or false"));
  }
  return it->get<bool>();
}

absl::Status CheckPositions(const ClipTextModel& encoder, const std::string& dir) {
  if (encoder->config().max_position_embeddings < TextConditioner::kTokens) {
    return absl::InvalidArgumentError(absl::StrCat("text encoder in ", dir, " has max_position_embeddings ",
                                                   encoder->config().max_position_embeddings, " < ",
                                                   TextConditioner::kTokens));
  }
  return absl::OkStatus();
}

}  // namespace

TextConditioner::TextConditioner(ClipTokenizer tokenizer_1, ClipTextModel text_encoder_1)
    : tokenizer_1_(std::move(tokenizer_1)), text_encoder_1_(std::move(text_encoder_1)) {}

absl::StatusOr<TextConditioner> TextConditioner::Load(const std::string& model_dir,
                                                      const torch::TensorOptions& options) {
  using diffusers::Component;
  const diffusers::ModelFolder model(model_dir);
  ASSIGN_OR_RETURN(ClipTokenizer tokenizer_1,
                   ClipTokenizer::Load(model.Dir(Component::kTokenizer), ClipTokenizer::kEndOfText));
  ASSIGN_OR_RETURN(ClipTextModel text_encoder_1, LoadClipTextModel(model.Dir(Component::kTextEncoder), options));
  RETURN_IF_ERROR(CheckPositions(text_encoder_1, model_dir));
  text_encoder_1->eval();
  TextConditioner conditioner(std::move(tokenizer_1), std::move(text_encoder_1));

  const bool dual = fs::exists(model.Dir(Component::kTextEncoder2));
  if (dual) {
    ASSIGN_OR_RETURN(ClipTokenizer tokenizer_2, ClipTokenizer::Load(model.Dir(Component::kTokenizer2), kSecondPadToken));
    ASSIGN_OR_RETURN(ClipTextModel text_encoder_2, LoadClipTextModel(model.Dir(Component::kTextEncoder2), options));
    RETURN_IF_ERROR(CheckPositions(text_encoder_2, model_dir));
    if (!text_encoder_2->with_projection()) {
      return absl::InvalidArgumentError(
          absl::StrCat(model_dir, "/text_encoder_2 has no text_projection (SDXL's second encoder has one)"));
    }
    text_encoder_2->eval();
    conditioner.tokenizer_2_ = std::move(tokenizer_2);
    conditioner.text_encoder_2_ = std::move(text_encoder_2);
  }
  // Only StableDiffusionXLPipeline has the option (default true there).
  ASSIGN_OR_RETURN(conditioner.force_zeros_for_empty_prompt_, ForceZerosForEmptyPrompt(model, /*fallback=*/dual));
  if (!dual) conditioner.force_zeros_for_empty_prompt_ = false;
  return conditioner;
}

int64_t TextConditioner::context_dim() const {
  return text_encoder_1_->config().hidden_size + (has_pooled() ? text_encoder_2_->config().hidden_size : 0);
}

int64_t TextConditioner::pooled_dim() const {
  return has_pooled() ? text_encoder_2_->config().projection_dim : 0;
}

bool TextConditioner::Truncates(const std::string& prompt) const {
  return static_cast<int64_t>(tokenizer_1_.Tokenize(prompt).size()) > kTokens - 2;
}

torch::Tensor TextConditioner::Tokens(const ClipTokenizer& tokenizer, const std::vector<std::string>& prompts) const {
  torch::Tensor ids = torch::empty({static_cast<int64_t>(prompts.size()), kTokens}, torch::kInt64);
  int64_t* data = ids.data_ptr<int64_t>();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::vector<int64_t> row = tokenizer.Encode(prompts[i], kTokens);
    std::copy(row.begin(), row.end(), data + i * kTokens);
  }
  return ids.to(text_encoder_1_->parameters().front().device());
}

TextConditioning TextConditioner::Encode(const std::vector<std::string>& prompts) {
  c10::InferenceMode inference;
  TextConditioning out;
  ClipTextOutput out_1 = text_encoder_1_->forward(Tokens(tokenizer_1_, prompts));
  if (!has_pooled()) {
    out.prompt_embeds = out_1.last_hidden_state;
    return out;
  }
  ClipTextOutput out_2 = text_encoder_2_->forward(Tokens(*tokenizer_2_, prompts));
  out.prompt_embeds = torch::cat({out_1.penultimate(), out_2.penultimate()}, -1);
  out.pooled = out_2.pooled();
  return out;
}

TextConditioning TextConditioner::EncodeNegative(const std::string& negative_prompt, int64_t batch) {
  if (force_zeros_for_empty_prompt_ && negative_prompt.empty()) {
    c10::InferenceMode inference;
    const torch::TensorOptions options = text_encoder_1_->parameters().front().options();
    TextConditioning zeros;
    zeros.prompt_embeds = torch::zeros({batch, kTokens, context_dim()}, options);
    if (has_pooled()) zeros.pooled = torch::zeros({batch, pooled_dim()}, options);
    return zeros;
  }
  return Encode(std::vector<std::string>(static_cast<size_t>(batch), negative_prompt));
}

}  // namespace align::models
