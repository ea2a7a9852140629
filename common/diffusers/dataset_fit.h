#pragma once
// Whether a prepared dataset fits a UNet: the one rule that submit-time spec
// checks, make-synthetic, the prepare job's warning and the trainer share.
// A pair's latents have the UNet's in_channels; its prompt embeddings the
// UNet's cross_attention_dim; for a UNet with the text_time embedding (SDXL),
// its pooled embedding the width that embedding expects. Spatial sizes and
// token counts are free: the UNet takes any.

#include <cstdint>

#include "absl/status/status.h"
#include "common/dataset/manifest.h"
#include "common/diffusers/unet_config.h"

namespace align::diffusers {

// OK when pairs of `shape` can train `unet`; otherwise InvalidArgument naming
// the dataset's dims and the UNet's.
absl::Status CheckPairShapeFitsUNet(const data::PairShape& shape, const UNetConfig& unet);

// The shape of pairs that fit `unet`, with latents of latent_height x
// latent_width and prompts of `tokens` tokens (pooled_dim 0 without text_time).
data::PairShape PairShapeForUNet(const UNetConfig& unet, int64_t latent_height, int64_t latent_width,
                                 int64_t tokens);

}  // namespace align::diffusers
