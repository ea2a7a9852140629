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

// softmax(q k^T / sqrt(head_dim) + causal mask) v over [B, heads, T, head_dim].
torch::Tensor CausalAttention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) {
  return at::scaled_dot_product_attention(q, k, v, /*attn_mask=*/{}, /*dropout_p=*/0.0, /*is_causal=*/true);
}

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

ClipAttentionImpl::ClipAttentionImpl(const diffusers::ClipTextConfig& config, const torch::TensorOptions& options)
    : heads_(config.num_attention_heads) {
  const int64_t d = config.hidden_size;
  k_proj = register_module("k_proj", Linear(d, d, true, options));
  v_proj = register_module("v_proj", Linear(d, d, true, options));
  q_proj = register_module("q_proj", Linear(d, d, true, options));
  out_proj = register_module("out_proj", Linear(d, d, true, options));
}

torch::Tensor ClipAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t batch = x.size(0), tokens = x.size(1), hidden = x.size(2);
  auto split_heads = [&](const torch::Tensor& t) {
    return t.view({batch, tokens, heads_, hidden / heads_}).transpose(1, 2);
  };
  torch::Tensor attended = CausalAttention(split_heads(q_proj(x)), split_heads(k_proj(x)), split_heads(v_proj(x)));
  return out_proj(attended.transpose(1, 2).reshape({batch, tokens, hidden}));
}

ClipMlpImpl::ClipMlpImpl(const diffusers::ClipTextConfig& config, const torch::TensorOptions& options)
    : act_(config.hidden_act) {
  fc1 = register_module("fc1", Linear(config.hidden_size, config.intermediate_size, true, options));
  fc2 = register_module("fc2", Linear(config.intermediate_size, config.hidden_size, true, options));
}

torch::Tensor ClipMlpImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = fc1(x);
  h = act_ == diffusers::ClipActivation::kQuickGelu ? h * torch::sigmoid(1.702 * h) : torch::gelu(h);
  return fc2(h);
}

ClipEncoderLayerImpl::ClipEncoderLayerImpl(const diffusers::ClipTextConfig& config, const torch::TensorOptions& options) {
  self_attn = register_module("self_attn", ClipAttention(config, options));
  layer_norm1 = register_module("layer_norm1", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
  mlp = register_module("mlp", ClipMlp(config, options));
  layer_norm2 = register_module("layer_norm2", LayerNorm(config.hidden_size, config.layer_norm_eps, options));
}

torch::Tensor ClipEncoderLayerImpl::forward(const torch::Tensor& x) {
  torch::Tensor h = x + self_attn(layer_norm1(x));
  return h + mlp(layer_norm2(h));
}

ClipTextModelImpl::ClipTextModelImpl(const diffusers::ClipTextConfig& config, bool with_projection,
                                     const torch::TensorOptions& options)
    : config_(config) {
  embeddings = register_module("embeddings", ClipTextEmbeddings(config, options));
  auto encoder = register_module("encoder", std::make_shared<torch::nn::Module>());
  auto list = encoder->register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    layers_.push_back(ClipEncoderLayer(config, options));
    list->push_back(layers_.back());
  }
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
  torch::Tensor h = embeddings(ids);
  out.hidden_states.push_back(h);
  for (ClipEncoderLayer& layer : layers_) {
    h = layer(h);
    out.hidden_states.push_back(h);
  }
  out.last_hidden_state = final_layer_norm(h);

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
