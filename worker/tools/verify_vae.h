#pragma once
// The VAE part of `align-worker verify-model`: runs model_dir/vae on the
// inputs of an io file laid out like the golden tiny-vae fixture.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/types.h>

#include "absl/status/status.h"

namespace align::tools {

// When `io` has `image` (compared: `mean`, `logvar` of encode(image)) and/or
// `latent` (compared: `decoded` = decode(latent), no scaling_factor), loads
// model_dir/vae in `dtype` on `device`, calls report(key, max|a-b|/max|b|,
// false) for each of those keys and appends "vae" to `components`. Does
// nothing when `io` has neither input; fails when it has one but model_dir
// has no vae/, or when an expected output is missing or the model cannot run.
absl::Status VerifyVae(const std::string& model_dir, const std::map<std::string, torch::Tensor>& io,
                       torch::Device device, torch::Dtype dtype,
                       const std::function<void(const std::string& key, double err, bool is_gradient)>& report,
                       std::vector<std::string>& components);

}  // namespace align::tools
