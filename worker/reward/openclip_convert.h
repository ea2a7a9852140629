#pragma once
// Converts an OpenCLIP state dict (open_clip's CLIP: what HPSv2 / v2.1
// publish) into a transformers CLIPModel folder that clip_model.h loads:
//   visual.conv1.weight                 -> vision_model.embeddings.patch_embedding.weight
//   visual.class_embedding              -> vision_model.embeddings.class_embedding
//   visual.positional_embedding         -> vision_model.embeddings.position_embedding.weight
//   visual.ln_pre / ln_post             -> vision_model.pre_layrnorm / post_layernorm
//   [visual.]transformer.resblocks.N.   -> {vision,text}_model.encoder.layers.N.
//       ln_1 / ln_2                     ->   layer_norm1 / layer_norm2
//       attn.in_proj_weight / _bias     ->   self_attn.{q,k,v}_proj (rows q, k, v)
//       attn.out_proj                   ->   self_attn.out_proj
//       mlp.c_fc / mlp.c_proj           ->   mlp.fc1 / mlp.fc2
//   visual.proj, text_projection        -> visual_projection.weight, text_projection.weight
//                                          (open_clip computes x @ proj: transposed)
//   token_embedding.weight, positional_embedding, ln_final, logit_scale -> text_model.* / logit_scale
// The numbers come from open_clip's model config JSON (e.g. its
// model_configs/ViT-H-14.json): embed_dim, quick_gelu, vision_cfg {image_size,
// layers, width, head_width, patch_size, mlp_ratio}, text_cfg {context_length,
// vocab_size, width, heads, layers, mlp_ratio}. The output folder holds
// config.json, model.safetensors (the input's dtype), preprocessor_config.json
// (open_clip's val transform: shortest edge and crop = image_size, bicubic,
// OpenAI mean/std) and, when given, the tokenizer's vocab.json + merges.txt.

#include <string>

#include "absl/status/status.h"

namespace align::reward {

struct OpenClipConvertOptions {
  std::string in_path;        // open_clip state dict as safetensors
  std::string config_path;    // open_clip model config JSON
  std::string out_dir;        // created; existing files are replaced
  std::string tokenizer_dir;  // optional: vocab.json + merges.txt to copy
};

absl::Status ConvertOpenClip(const OpenClipConvertOptions& options);

}  // namespace align::reward
