#include "worker/models/clip_text_model.h"

#include <torch/torch.h>

#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "worker/models/weights_io.h"

namespace align::models {
namespace {

const char kPrefix[] = "text_model.";


}  // namespace

ClipEmbeddingImpl::ClipEmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({num, dim}, options));
}

torch::Tensor ClipEmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

ClipTextEmbeddingsImpl::ClipTextEmbeddingsImpl(const diffusers::ClipTextConfig& config,
                                               const torch::TensorOptions& options) {
  token_embedding =
      register_module("token_embedding", ClipEmbedding(config.vocab_size, config.hidden_size, options));
  position_embedding = register_module(
      "position_embedding", ClipEmbedding(config.max_position_embeddings, config.hidden_size, options));
}

torch::Tensor ClipTextEmbeddingsImpl::forward(const torch::Tensor& input_ids) {
  torch::Tensor positions =
      torch::arange(input_ids.size(1), torch::TensorOptions().dtype(torch::kLong).device(input_ids.device()));
  return token_embedding(input_ids) + position_embedding(positions);
}

ClipTextModelImpl::ClipTextModelImpl(const diffusers::ClipTextConfig& config, bool with_projection,
                                     const torch::TensorOptions& options)
    : config_(config) {
  embeddings = register_module("embeddings", ClipTextEmbeddings(config, options));
  encoder = register_module("encoder", ClipEncoder(ClipEncoderShapeOf(config, /*causal=*/true), options));
  final_layer_norm =
      register_module("final_layer_norm", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  if (with_projection) {
    text_projection =
        register_module("text_projection", Linear(config.hidden_size, config.projection_dim, false, options));
  }
}

ClipTextOutput ClipTextModelImpl::forward(const torch::Tensor& input_ids_in) {
  TORCH_CHECK(input_ids_in.dim() == 2, "input_ids must be [batch, tokens], got ", input_ids_in.sizes());
  TORCH_CHECK(input_ids_in.size(1) <= config_.max_position_embeddings, "input_ids has ",
              input_ids_in.size(1), " tokens; the model has ", config_.max_position_embeddings, " positions");
  const torch::Device device = final_layer_norm->weight.device();
  const torch::Tensor ids = input_ids_in.to(device, torch::kLong);

  ClipTextOutput out;
  out.hidden_states = encoder(embeddings(ids));
  out.last_hidden_state = final_layer_norm(out.hidden_states.back());

  // Pool at the first position holding the end-of-text id (transformers:
  // argmax(ids == eos_token_id), 0 when absent), or, for the legacy
  // eos_token_id 2, at the first position of the row's largest id.
  const int64_t tokens = ids.size(1);
  torch::Tensor hit = config_.eos_token_id == 2 ? ids == std::get<0>(ids.max(/*dim=*/1, /*keepdim=*/true))
                                                : ids == config_.eos_token_id;
  torch::Tensor positions = torch::arange(tokens, ids.options()).expand_as(ids);
  torch::Tensor first = torch::where(hit, positions, torch::full_like(positions, tokens)).amin(1);
  first = torch::where(first == tokens, torch::zeros_like(first), first);
  torch::Tensor rows = torch::arange(ids.size(0), ids.options());
  out.pooler_output = out.last_hidden_state.index({rows, first});
  if (!text_projection.is_empty()) out.text_embeds = text_projection(out.pooler_output);
  return out;
}

absl::StatusOr<ClipTextModel> LoadClipTextModel(const std::string& dir, const torch::TensorOptions& options) {
  ASSIGN_OR_RETURN(diffusers::ClipTextConfig config, diffusers::LoadClipTextConfig(diffusers::ConfigPath(dir)));
  ASSIGN_OR_RETURN(safetensors::ShardedWeights weights,
                   safetensors::ShardedWeights::Open(dir, diffusers::kTransformersWeightsBase));
  const bool with_projection = config.with_projection.value_or(weights.Contains("text_projection.weight"));
  ClipTextModel model(config, with_projection, options);
  LoadOptions load;
  load.key_prefixes = {"", kPrefix};
  // transformers < 4.31 saved the position ids as a persistent buffer; later
  // versions drop it on load (_keys_to_ignore_on_load_unexpected).
  load.ignored_keys = {"embeddings.position_ids", absl::StrCat(kPrefix, "embeddings.position_ids")};
  absl::Status loaded = LoadParameters(*model, weights, load);
  if (!loaded.ok()) return absl::Status(loaded.code(), absl::StrCat(dir, ": ", loaded.message()));
  return model;
}

}  // namespace align::models
