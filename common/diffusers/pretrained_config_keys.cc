#include "common/diffusers/pretrained_config_keys.h"

namespace align::diffusers {
namespace {

// Keys starting with '_' (_name_or_path, ...) are metadata anyway.
constexpr const char* kIgnored[] = {
    // token ids other than the pooling one; weight initialisation; storage dtype
    "bos_token_id", "pad_token_id", "sep_token_id", "decoder_start_token_id", "initializer_range",
    "initializer_factor", "dtype", "torch_dtype", "transformers_version", "use_bfloat16",
    // outputs and export switches of the Python API
    "output_hidden_states", "output_attentions", "return_dict", "torchscript", "use_cache",
    // chunking the feed-forward computes the same values
    "chunk_size_feed_forward",
    // heads and labels for other tasks; CLIP's text model has no LM head or cross-attention
    "tie_word_embeddings", "is_decoder", "is_encoder_decoder", "add_cross_attention",
    "tie_encoder_decoder", "cross_attention_hidden_size", "id2label", "label2id", "problem_type",
    "finetuning_task", "tokenizer_class", "prefix", "task_specific_params", "tf_legacy_loss",
    // text generation settings
    "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups",
    "diversity_penalty", "temperature", "top_k", "top_p", "typical_p", "repetition_penalty",
    "length_penalty", "no_repeat_ngram_size", "encoder_no_repeat_ngram_size", "bad_words_ids",
    "num_return_sequences", "output_scores", "return_dict_in_generate", "forced_bos_token_id",
    "forced_eos_token_id", "remove_invalid_values", "exponential_decay_length_penalty",
    "suppress_tokens", "begin_suppress_tokens"};

}  // namespace

void IgnorePretrainedConfigKeys(ConfigReader& reader) {
  for (const char* key : kIgnored) reader.Ignore(key);
}

}  // namespace align::diffusers
