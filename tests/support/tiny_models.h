#pragma once
// Model folders in diffusers layout for tests that run whole pipelines on
// the CPU, assembled from the golden fixtures (symlinks) plus what the
// fixtures lack. tiny-clip's second text encoder projects its pooled output
// to 24 features while tiny-sdxl's UNet takes 32: WriteWideTextEncoder2 writes
// it with a 32-wide projection (the fixture's 24 rows, then 8 more derived
// from them), deterministic and free of LibTorch.

#include <string>

#include "absl/status/status.h"

namespace align::testing {

// `dir`/config.json and model.safetensors: tiny-clip's text_encoder_2 with projection_dim 32.
absl::Status WriteWideTextEncoder2(const std::string& golden_dir, const std::string& dir);

// A tiny SDXL folder that samples and encodes: tiny-sdxl's unet/ and
// scheduler/, tiny-vae's vae/, tiny-clip's text_encoder/, the wide
// text_encoder_2/, the tokenizer fixture as tokenizer/ and tokenizer_2/.
absl::Status WriteTinySdxlModel(const std::string& golden_dir, const std::string& dir);

// A tiny SD 1.5-family folder (one text encoder, no added conditioning) that
// prepares and trains: tiny-sd15's unet/ with its cross-attention narrowed
// from 48 to tiny-clip's 32 text features (the first 32 columns of every
// attn2.to_k / to_v, config cross_attention_dim 32), tiny-sdxl's scheduler/
// (SD 1.5's betas), tiny-vae's vae/, tiny-clip's text_encoder/ and the
// tokenizer fixture as tokenizer/. No text_encoder_2/, no tokenizer_2/.
absl::Status WriteTinySd15Model(const std::string& golden_dir, const std::string& dir);

// A tiny PickScore-layout reward folder (a CLIPModel as transformers saves
// it, with the processor's files): tiny-clip-vision's clip/ weights and
// config, clip-preprocess's preprocessor_config.json, the tokenizer fixture.
absl::Status WriteTinyClipRewardModel(const std::string& golden_dir, const std::string& dir);

}  // namespace align::testing
