#include "worker/tools/verify_model.h"

#include <torch/torch.h>

#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/models/fp32_precision.h"
#include "worker/models/lora.h"
#include "worker/models/lora_io.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"
#include "worker/tools/verify_clip.h"
#include "worker/tools/verify_clip_vision.h"
#include "worker/tools/verify_vae.h"
#include "worker/tools/max_relative_error.h"

namespace align::tools {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

// Tolerances on max|a-b| / max|b|. fp32 follows the reference's own
// run-to-run agreement; bf16 keeps 8 mantissa bits, so errors of a few 1e-3
// per op compound through the UNet's depth.
struct Tolerance {
  double output;
  double gradient;
};
Tolerance ToleranceFor(const std::string& dtype) {
  return dtype == "bf16" ? Tolerance{5e-2, 1e-1} : Tolerance{1e-4, 1e-3};
}

struct Comparison {
  nlohmann::json errors = nlohmann::json::object();
  bool ok = true;

  void Add(const std::string& name, double error, double tolerance) {
    errors[name] = error;
    if (!(error <= tolerance)) ok = false;
  }
};

absl::StatusOr<torch::Tensor> Require(const TensorMap& io, const std::string& key) {
  auto it = io.find(key);
  if (it == io.end()) return absl::InvalidArgumentError(absl::StrCat("io file has no '", key, "' tensor"));
  return it->second;
}

// peft's parameter names in the io file (<layer>.lora_A.default.weight) as
// the model's (<layer>.lora.down.weight); other names unchanged.
std::string ModelParameterName(std::string name) {
  for (const auto& [peft, ours] : {std::pair<std::string, std::string>{".lora_A.default.weight", ".lora.down.weight"},
                                   {".lora_B.default.weight", ".lora.up.weight"},
                                   {".lora_A.weight", ".lora.down.weight"},
                                   {".lora_B.weight", ".lora.up.weight"}}) {
    if (absl::EndsWith(name, peft)) return name.substr(0, name.size() - peft.size()) + ours;
  }
  return name;
}

// Freezes the base and adds the adapter of `opts.lora_path`, loaded.
absl::Status AddLora(const VerifyModelOptions& opts, models::UNet2DConditionModel& unet) {
  ASSIGN_OR_RETURN(models::LoraWeights weights, models::ReadLoraWeights(opts.lora_path));
  return models::AttachLoraWeights(unet, weights,
                                   opts.lora_alpha > 0 ? std::optional<double>(opts.lora_alpha) : std::nullopt);
}

absl::Status VerifyUNet(const VerifyModelOptions& opts, const TensorMap& io, torch::Device device,
                        torch::Dtype dtype, Comparison& result) {
  const Tolerance tol = ToleranceFor(opts.dtype);
  auto options = torch::TensorOptions().dtype(dtype).device(device);
  ASSIGN_OR_RETURN(models::UNet2DConditionModel unet, models::LoadUNet(diffusers::ModelFolder(opts.model_dir).Dir(diffusers::Component::kUNet), options));
  unet->train();
  unet->set_gradient_checkpointing(opts.gradient_checkpointing);
  if (!opts.lora_path.empty()) RETURN_IF_ERROR(AddLora(opts, unet));
  unet->set_channels_last(opts.channels_last);
  unet->set_fused_geglu(opts.fused_geglu);

  auto as_input = [&](const std::string& key) -> absl::StatusOr<torch::Tensor> {
    ASSIGN_OR_RETURN(torch::Tensor t, Require(io, key));
    return t.is_floating_point() ? t.to(device, dtype) : t.to(device);
  };
  models::UNetInputs inputs;
  ASSIGN_OR_RETURN(inputs.sample, as_input("sample"));
  ASSIGN_OR_RETURN(inputs.timestep, as_input("timestep"));
  ASSIGN_OR_RETURN(inputs.encoder_hidden_states, as_input("encoder_hidden_states"));
  if (unet->config().text_time_embedding) {
    ASSIGN_OR_RETURN(inputs.text_embeds, as_input("text_embeds"));
    ASSIGN_OR_RETURN(inputs.time_ids, as_input("time_ids"));
  }
  if (unet->config().time_cond_proj_dim > 0) {
    ASSIGN_OR_RETURN(inputs.timestep_cond, as_input("timestep_cond"));
  }
  ASSIGN_OR_RETURN(torch::Tensor expected_out, Require(io, "out"));

  torch::Tensor out;
  try {
    out = unet->forward(inputs);
  } catch (const c10::Error& e) {
    return absl::InvalidArgumentError(absl::StrCat("UNet forward failed: ", e.what_without_backtrace()));
  }
  result.Add("out", MaxRelativeError(out, expected_out), tol.output);
  if (!opts.lora_path.empty() && io.count("out_base")) {
    torch::NoGradGuard no_grad;
    models::LoraDisabledScope base_only(*unet);
    result.Add("out_base", MaxRelativeError(unet->forward(inputs), io.at("out_base")), tol.output);
  }

  if (io.count("target") == 0) return absl::OkStatus();
  ASSIGN_OR_RETURN(torch::Tensor target, as_input("target"));
  torch::Tensor loss = torch::mse_loss(out.to(torch::kFloat), target.to(torch::kFloat));
  if (io.count("loss")) result.Add("loss", MaxRelativeError(loss.reshape({1}), io.at("loss").reshape({1})), tol.output);
  loss.backward();

  std::map<std::string, torch::Tensor> params;
  for (const auto& item : unet->named_parameters()) params[item.key()] = item.value();
  for (const auto& [key, expected] : io) {
    if (!absl::StartsWith(key, "grad.")) continue;
    const std::string name = ModelParameterName(key.substr(5));
    auto it = params.find(name);
    if (it == params.end()) {
      return absl::InvalidArgumentError(absl::StrCat("io file has ", key, " but the UNet has no parameter ", name));
    }
    torch::Tensor grad = it->second.grad();
    result.Add(key, grad.defined() ? MaxRelativeError(grad, expected) : std::numeric_limits<double>::infinity(),
               tol.gradient);
  }
  return absl::OkStatus();
}

}  // namespace

int RunVerifyModel(const VerifyModelOptions& opts, std::ostream& out, std::ostream& err) {
  torch::Device device(torch::kCPU);
  if (opts.device == "cuda") {
    if (!torch::cuda::is_available()) {
      err << "verify-model: --device cuda, but this build has no CUDA device or CUDA support\n";
      return 2;
    }
    device = torch::Device(torch::kCUDA);
    // The fp32 bounds are IEEE fp32's: TF32 convolutions (LibTorch's default) miss them by ~10x.
    if (opts.dtype != "bf16") models::SetCudaTf32(false);
  }
  const torch::Dtype dtype = opts.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat;

  absl::StatusOr<TensorMap> io = models::ReadTensors(opts.io_path);
  if (!io.ok()) {
    err << "verify-model: " << io.status().message() << "\n";
    return 2;
  }
  const Tolerance tol = ToleranceFor(opts.dtype);
  Comparison result;
  std::vector<std::string> components;
  auto report = [&](const std::string& key, double error, bool is_gradient) {
    result.Add(key, error, is_gradient ? tol.gradient : tol.output);
  };
  absl::Status status = absl::OkStatus();
  try {
    if (io->count("sample")) {
      components.emplace_back(diffusers::ComponentName(diffusers::Component::kUNet));
      status = VerifyUNet(opts, *io, device, dtype, result);
    }
    if (status.ok()) status = VerifyClip(opts.model_dir, *io, device, dtype, report, components);
    if (status.ok()) status = VerifyVae(opts.model_dir, *io, device, dtype, report, components);
    if (status.ok()) status = VerifyClipVision(opts.model_dir, *io, device, dtype, report, components);
  } catch (const c10::Error& e) {
    status = absl::InvalidArgumentError(e.what_without_backtrace());
  }
  if (status.ok() && components.empty()) {
    status = absl::InvalidArgumentError(
        "io file holds no inputs of a known component (unet: sample; text encoders: input_ids with "
        "<encoder>.penultimate/.last/.pooled; vae: image or latent; image_encoder: pixel_values with "
        "image_encoder.*; clip: input_ids and pixel_values with clip.*)");
  }
  if (!status.ok()) {
    err << "verify-model: " << status.message() << "\n";
    return 2;
  }
  nlohmann::json line = {{"components", components},
                         {"device", opts.device},
                         {"dtype", opts.dtype},
                         {"tolerance", {{"outputs", tol.output}, {"gradients", tol.gradient}}},
                         {"max_rel_err", result.errors},
                         {"ok", result.ok}};
  out << line.dump() << std::endl;
  return result.ok ? 0 : 1;
}

}  // namespace align::tools
