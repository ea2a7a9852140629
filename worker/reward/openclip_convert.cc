#include "worker/reward/openclip_convert.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config_reader.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/models/weights_io.h"

namespace align::reward {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

struct TowerNumbers {
  int64_t width = 0, layers = 0, heads = 0, intermediate = 0;
};

struct OpenClipConfig {
  int64_t embed_dim = 0;
  bool quick_gelu = false;
  TowerNumbers vision, text;
  int64_t image_size = 224, patch_size = 16;
  int64_t context_length = 77, vocab_size = 49408;
};

int64_t Intermediate(int64_t width, double mlp_ratio) { return static_cast<int64_t>(width * mlp_ratio); }

absl::StatusOr<OpenClipConfig> ParseOpenClipConfig(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  ASSIGN_OR_RETURN(ConfigReader top, ConfigReader::Parse(text, path));
  OpenClipConfig c;
  c.embed_dim = top.Int("embed_dim", 0);
  c.quick_gelu = top.Bool("quick_gelu", false);
  const nlohmann::json* vision = top.Value("vision_cfg");
  const nlohmann::json* text_cfg = top.Value("text_cfg");
  // Tokenizer and framework settings of open_clip that do not change the converted weights.
  for (const char* key : {"custom_text", "init_logit_scale", "init_logit_bias"}) top.Ignore(key);
  RETURN_IF_ERROR(top.Finish());
  if (vision == nullptr || text_cfg == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": needs vision_cfg and text_cfg"));
  }
  ASSIGN_OR_RETURN(ConfigReader v, ConfigReader::Parse(vision->dump(), path + " vision_cfg"));
  c.image_size = v.Int("image_size", 224);
  c.patch_size = v.Int("patch_size", 16);
  c.vision.width = v.Int("width", 768);
  c.vision.layers = v.Int("layers", 12);
  const int64_t head_width = v.Int("head_width", 64);
  c.vision.intermediate = Intermediate(c.vision.width, v.Double("mlp_ratio", 4.0));
  // Options that change the tower (attentional pooling, patch dropout at eval
  // is off anyway, final LayerNorm placement): only their defaults convert.
  v.Ignore("patch_dropout");
  v.ExpectOneOf("global_average_pool", {false});
  v.ExpectOneOf("attentional_pool", {false});
  v.ExpectOneOf("ls_init_value", {nullptr});
  v.ExpectOneOf("no_ln_pre", {false});
  v.ExpectOneOf("final_ln_after_pool", {false});
  v.ExpectOneOf("pool_type", {"tok"});
  v.ExpectOneOf("output_tokens", {false});
  v.ExpectOneOf("timm_model_name", {nullptr});
  RETURN_IF_ERROR(v.Finish());
  if (head_width <= 0 || c.vision.width % head_width != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": vision width is not a multiple of head_width"));
  }
  c.vision.heads = c.vision.width / head_width;
  ASSIGN_OR_RETURN(ConfigReader t, ConfigReader::Parse(text_cfg->dump(), path + " text_cfg"));
  c.context_length = t.Int("context_length", 77);
  c.vocab_size = t.Int("vocab_size", 49408);
  c.text.width = t.Int("width", 512);
  c.text.heads = t.Int("heads", 8);
  c.text.layers = t.Int("layers", 12);
  c.text.intermediate = Intermediate(c.text.width, t.Double("mlp_ratio", 4.0));
  t.ExpectOneOf("ls_init_value", {nullptr});
  t.ExpectOneOf("hf_model_name", {nullptr});
  t.ExpectOneOf("pool_type", {"argmax"});
  t.ExpectOneOf("proj_bias", {false});
  t.ExpectOneOf("embed_cls", {false});
  t.ExpectOneOf("no_causal_mask", {false});
  RETURN_IF_ERROR(t.Finish());
  if (c.embed_dim <= 0) return absl::InvalidArgumentError(absl::StrCat(path, ": embed_dim must be positive"));
  return c;
}

nlohmann::json TransformersConfig(const OpenClipConfig& c) {
  const char* act = c.quick_gelu ? "quick_gelu" : "gelu";
  return {
      {"architectures", {"CLIPModel"}},
      {"model_type", "clip"},
      {"projection_dim", c.embed_dim},
      {"text_config",
       {{"model_type", "clip_text_model"},
        {"vocab_size", c.vocab_size},
        {"hidden_size", c.text.width},
        {"intermediate_size", c.text.intermediate},
        {"num_hidden_layers", c.text.layers},
        {"num_attention_heads", c.text.heads},
        {"max_position_embeddings", c.context_length},
        {"hidden_act", act},
        {"layer_norm_eps", 1e-5},
        {"projection_dim", c.embed_dim},
        // open_clip pools at argmax(token ids) (the end-of-text token, CLIP's
        // largest id): transformers' legacy eos_token_id 2 does the same.
        {"eos_token_id", 2}}},
      {"vision_config",
       {{"model_type", "clip_vision_model"},
        {"hidden_size", c.vision.width},
        {"intermediate_size", c.vision.intermediate},
        {"num_hidden_layers", c.vision.layers},
        {"num_attention_heads", c.vision.heads},
        {"image_size", c.image_size},
        {"patch_size", c.patch_size},
        {"hidden_act", act},
        {"layer_norm_eps", 1e-5},
        {"projection_dim", c.embed_dim}}},
  };
}

nlohmann::json PreprocessorConfig(const OpenClipConfig& c) {
  return {{"image_processor_type", "CLIPImageProcessor"},
          {"do_resize", true},
          {"size", {{"shortest_edge", c.image_size}}},
          {"resample", 3},
          {"do_center_crop", true},
          {"crop_size", {{"height", c.image_size}, {"width", c.image_size}}},
          {"do_rescale", true},
          {"rescale_factor", 1.0 / 255.0},
          {"do_normalize", true},
          {"image_mean", {0.48145466, 0.4578275, 0.40821073}},
          {"image_std", {0.26862954, 0.26130258, 0.27577711}},
          {"do_convert_rgb", true}};
}

// Moves `from` out of `in` into `out` as `to`; records a missing key.
class Renamer {
 public:
  Renamer(TensorMap& in, TensorMap& out) : in_(in), out_(out) {}
  void Move(const std::string& from, const std::string& to, bool transpose = false) {
    auto it = in_.find(from);
    if (it == in_.end()) {
      missing_.push_back(from);
      return;
    }
    out_[to] = transpose ? it->second.t().contiguous() : it->second;
    in_.erase(it);
  }
  void SplitQkv(const std::string& from, const std::string& to_prefix, const std::string& param) {
    auto it = in_.find(from);
    if (it == in_.end()) {
      missing_.push_back(from);
      return;
    }
    std::vector<torch::Tensor> parts = it->second.chunk(3, 0);
    const char* names[] = {"q_proj", "k_proj", "v_proj"};
    for (int i = 0; i < 3; ++i) out_[absl::StrCat(to_prefix, names[i], ".", param)] = parts[i].contiguous();
    in_.erase(it);
  }
  const std::vector<std::string>& missing() const { return missing_; }

 private:
  TensorMap& in_;
  TensorMap& out_;
  std::vector<std::string> missing_;
};

void MoveTower(Renamer& r, const std::string& from, const std::string& to, int64_t layers) {
  for (int64_t n = 0; n < layers; ++n) {
    const std::string s = absl::StrCat(from, "transformer.resblocks.", n, ".");
    const std::string d = absl::StrCat(to, "encoder.layers.", n, ".");
    for (const char* p : {"weight", "bias"}) {
      r.Move(s + "ln_1." + p, d + "layer_norm1." + p);
      r.Move(s + "ln_2." + p, d + "layer_norm2." + p);
      r.Move(s + "attn.out_proj." + p, d + "self_attn.out_proj." + p);
      r.Move(s + "mlp.c_fc." + p, d + "mlp.fc1." + p);
      r.Move(s + "mlp.c_proj." + p, d + "mlp.fc2." + p);
    }
    r.SplitQkv(s + "attn.in_proj_weight", d + "self_attn.", "weight");
    r.SplitQkv(s + "attn.in_proj_bias", d + "self_attn.", "bias");
  }
}

absl::Status WriteJson(const std::filesystem::path& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path.string()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ConvertOpenClip(const OpenClipConvertOptions& options) {
  ASSIGN_OR_RETURN(OpenClipConfig config, ParseOpenClipConfig(options.config_path));
  ASSIGN_OR_RETURN(TensorMap in, models::ReadTensors(options.in_path));
  // Non-persistent in current open_clip; some older checkpoints carry it.
  in.erase("attn_mask");
  TensorMap out;
  Renamer r(in, out);
  r.Move("visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight");
  r.Move("visual.class_embedding", "vision_model.embeddings.class_embedding");
  r.Move("visual.positional_embedding", "vision_model.embeddings.position_embedding.weight");
  for (const char* p : {"weight", "bias"}) {
    r.Move(absl::StrCat("visual.ln_pre.", p), absl::StrCat("vision_model.pre_layrnorm.", p));
    r.Move(absl::StrCat("visual.ln_post.", p), absl::StrCat("vision_model.post_layernorm.", p));
    r.Move(absl::StrCat("ln_final.", p), absl::StrCat("text_model.final_layer_norm.", p));
  }
  MoveTower(r, "visual.", "vision_model.", config.vision.layers);
  r.Move("visual.proj", "visual_projection.weight", /*transpose=*/true);
  r.Move("token_embedding.weight", "text_model.embeddings.token_embedding.weight");
  r.Move("positional_embedding", "text_model.embeddings.position_embedding.weight");
  MoveTower(r, "", "text_model.", config.text.layers);
  r.Move("text_projection", "text_projection.weight", /*transpose=*/true);
  r.Move("logit_scale", "logit_scale");
  if (!r.missing().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(options.in_path, ": not an open_clip CLIP state dict for ",
                                                   options.config_path, "; missing ",
                                                   absl::StrJoin(r.missing(), ", ")));
  }
  if (!in.empty()) {
    std::vector<std::string> extra;
    for (const auto& [name, tensor] : in) extra.push_back(name);
    return absl::InvalidArgumentError(absl::StrCat(options.in_path, ": keys the converter does not know (",
                                                   options.config_path, " has fewer layers, or another model): ",
                                                   absl::StrJoin(extra, ", ")));
  }

  std::error_code ec;
  const std::filesystem::path dir(options.out_dir);
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", options.out_dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteJson(dir / std::string(diffusers::kConfigFile), TransformersConfig(config)));
  RETURN_IF_ERROR(WriteJson(dir / "preprocessor_config.json", PreprocessorConfig(config)));
  RETURN_IF_ERROR(models::WriteTensors(
      (dir / diffusers::WeightsFileName(diffusers::kTransformersWeightsBase)).string(), out));
  if (!options.tokenizer_dir.empty()) {
    for (const std::string& file : {diffusers::VocabPath(options.tokenizer_dir),
                                    diffusers::MergesPath(options.tokenizer_dir)}) {
      std::filesystem::copy_file(file, dir / std::filesystem::path(file).filename(),
                                 std::filesystem::copy_options::overwrite_existing, ec);
      if (ec) return absl::InternalError(absl::StrCat("cannot copy ", file, ": ", ec.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace align::reward
