#include "common/diffusers/dataset_fit.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace align::diffusers {
namespace {

// The pooled text width the UNet reads; 0 when it reads none.
int64_t PooledDim(const UNetConfig& unet) { return unet.text_time_embedding ? unet.pooled_text_dim() : 0; }

}  // namespace

absl::Status CheckPairShapeFitsUNet(const data::PairShape& shape, const UNetConfig& unet) {
  const bool pooled_fits = !unet.text_time_embedding || shape.pooled_dim == PooledDim(unet);
  if (shape.latent_channels == unet.in_channels && shape.context_dim == unet.cross_attention_dim && pooled_fits) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "the pairs have latent_channels ", shape.latent_channels, ", context_dim ", shape.context_dim,
      ", pooled_dim ", shape.pooled_dim, "; the UNet expects in_channels ", unet.in_channels,
      ", cross_attention_dim ", unet.cross_attention_dim, ", pooled ",
      unet.text_time_embedding ? absl::StrCat(PooledDim(unet)) : std::string("any (no text_time embedding)")));
}

data::PairShape PairShapeForUNet(const UNetConfig& unet, int64_t latent_height, int64_t latent_width,
                                 int64_t tokens) {
  data::PairShape shape;
  shape.latent_channels = unet.in_channels;
  shape.latent_height = latent_height;
  shape.latent_width = latent_width;
  shape.tokens = tokens;
  shape.context_dim = unet.cross_attention_dim;
  shape.pooled_dim = PooledDim(unet);
  return shape;
}

}  // namespace align::diffusers
