#pragma once
// The UNet's text conditioning, computed from prompts as diffusers' pipelines
// compute it (encode_prompt with clip_skip unset), from a model folder's
// tokenizer(s) and text encoder(s):
//
//  - SDXL (text_encoder/ and text_encoder_2/): prompt_embeds = concat of both
//    encoders' penultimate hidden states (hidden_states[-2], no final
//    LayerNorm) on the feature axis; pooled = text_encoder_2's projected
//    output (text_embeds). tokenizer/ pads with <|endoftext|>, tokenizer_2/
//    with "!" (SDXL's special_tokens_map), both to 77 tokens with truncation.
//  - One text encoder (SD 1.x / 2.x): prompt_embeds = last_hidden_state, after
//    final_layer_norm; no pooled output. SD 2.x conditions on OpenCLIP-H's
//    penultimate layer, but diffusers does not choose a layer for it: its
//    converted text_encoder/ has that last layer removed (23 of 24 layers), so
//    "last hidden state of the folder's encoder" is what both families'
//    pipelines compute, and so is it here.
//
// Which family a folder is: text_encoder_2/ present or not.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/statusor.h"
#include "worker/models/clip_text_model.h"
#include "worker/models/clip_tokenizer.h"

namespace align::models {

struct TextConditioning {
  torch::Tensor prompt_embeds;  // [B, 77, context_dim]
  torch::Tensor pooled;         // [B, pooled_dim]; undefined without a second encoder
};

class TextConditioner {
 public:
  static constexpr int kTokens = 77;  // CLIP's model_max_length

  // Reads tokenizer/ and text_encoder/ (plus tokenizer_2/ and text_encoder_2/
  // when text_encoder_2/ exists) under `model_dir`, with parameters of
  // `options`, in eval mode. SDXL's force_zeros_for_empty_prompt comes from
  // model_index.json when the folder has one (default true, as
  // StableDiffusionXLPipeline's); one-encoder pipelines have no such option.
  static absl::StatusOr<TextConditioner> Load(const std::string& model_dir, const torch::TensorOptions& options);

  // The conditioning of `prompts`, on the encoders' device and dtype. Runs
  // under InferenceMode: the outputs carry no autograd history.
  TextConditioning Encode(const std::vector<std::string>& prompts);
  // The negative prompt's conditioning, `batch` identical rows: zeros of the
  // shapes Encode gives when force_zeros_for_empty_prompt() and the prompt is
  // empty (StableDiffusionXLPipeline's zero_out_negative_prompt), else Encode.
  TextConditioning EncodeNegative(const std::string& negative_prompt, int64_t batch);

  // Whether `prompt` is longer than the 75 tokens that fit between
  // <|startoftext|> and <|endoftext|> (it is then truncated, as the reference does).
  bool Truncates(const std::string& prompt) const;

  bool has_pooled() const { return !text_encoder_2_.is_empty(); }
  int64_t context_dim() const;  // width of prompt_embeds
  int64_t pooled_dim() const;   // width of pooled; 0 without a second encoder
  bool force_zeros_for_empty_prompt() const { return force_zeros_for_empty_prompt_; }

 private:
  TextConditioner(ClipTokenizer tokenizer_1, ClipTextModel text_encoder_1);
  torch::Tensor Tokens(const ClipTokenizer& tokenizer, const std::vector<std::string>& prompts) const;

  ClipTokenizer tokenizer_1_;
  ClipTextModel text_encoder_1_;
  std::optional<ClipTokenizer> tokenizer_2_;
  ClipTextModel text_encoder_2_{nullptr};
  bool force_zeros_for_empty_prompt_ = false;
};

}  // namespace align::models
