#include "worker/sampling/verify_sampling.h"

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/models/fp32_precision.h"
#include "worker/models/weights_io.h"
#include "worker/sampling/denoising_loop.h"
#include "worker/sampling/make_sampler.h"
#include "worker/tools/max_relative_error.h"

namespace align::sampling {
namespace {

namespace fs = std::filesystem;
using TensorMap = std::map<std::string, torch::Tensor>;

// Each step runs the UNet, whose fp32 outputs verify-model bounds at 1e-4
// relative (tools/verify_model.cc); the loop's latents are held to the same.
constexpr double kTolerance = 1e-4;
constexpr char kPipelineFile[] = "pipeline.json";

absl::StatusOr<torch::Tensor> Require(const TensorMap& io, const std::string& key) {
  auto it = io.find(key);
  if (it == io.end()) return absl::InvalidArgumentError(absl::StrCat("io file has no '", key, "' tensor"));
  return it->second;
}

struct Settings {
  int64_t steps = 0;
  double guidance_scale = 0;
};

// From the io file's num_inference_steps / guidance_scale, else pipeline.json beside it.
absl::StatusOr<Settings> ReadSettings(const std::string& io_path, const TensorMap& io) {
  Settings s;
  nlohmann::json pipeline = nlohmann::json::object();
  const fs::path pipeline_path = fs::path(io_path).parent_path() / kPipelineFile;
  if (fs::exists(pipeline_path)) {
    ASSIGN_OR_RETURN(std::string text, ReadFileToString(pipeline_path.string()));
    pipeline = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!pipeline.is_object()) return absl::InvalidArgumentError(absl::StrCat(pipeline_path.string(), ": not a JSON object"));
  }
  if (io.count("num_inference_steps")) {
    s.steps = io.at("num_inference_steps").reshape({-1})[0].item<int64_t>();
  } else if (pipeline.contains("num_inference_steps") && pipeline["num_inference_steps"].is_number_integer()) {
    s.steps = pipeline["num_inference_steps"].get<int64_t>();
  } else {
    return absl::InvalidArgumentError(absl::StrCat("neither the io file nor ", pipeline_path.string(),
                                                   " gives num_inference_steps"));
  }
  if (io.count("guidance_scale")) {
    s.guidance_scale = io.at("guidance_scale").reshape({-1})[0].item<double>();
  } else if (pipeline.contains("guidance_scale") && pipeline["guidance_scale"].is_number()) {
    s.guidance_scale = pipeline["guidance_scale"].get<double>();
  } else {
    return absl::InvalidArgumentError(absl::StrCat("neither the io file nor ", pipeline_path.string(),
                                                   " gives guidance_scale"));
  }
  return s;
}

struct Report {
  nlohmann::json errors = nlohmann::json::object();
  double worst = 0;
  bool timesteps_identical = false;

  void Add(const std::string& name, double error) {
    errors[name] = error;
    if (!(error <= worst)) worst = error;  // NaN counts as the worst
  }
  bool ok() const { return timesteps_identical && worst <= kTolerance; }
};

absl::Status Replay(const VerifySamplingOptions& options, torch::Device device, Report& report, nlohmann::json& about) {
  ASSIGN_OR_RETURN(TensorMap io, models::ReadTensors(options.io_path));
  ASSIGN_OR_RETURN(Settings settings, ReadSettings(options.io_path, io));
  ASSIGN_OR_RETURN(std::unique_ptr<DenoisingLoop> loop, DenoisingLoop::Load(options.model_dir, device));

  // The reference carries no noise for stochastic steps: only deterministic samplers compare.
  std::unique_ptr<Sampler> probe = MakeSampler(loop->sampler_config());
  RETURN_IF_ERROR(probe->SetTimesteps(settings.steps));
  for (int64_t i = 0; i < static_cast<int64_t>(probe->timesteps().size()); ++i) {
    if (probe->StepNeedsNoise(i)) {
      return absl::InvalidArgumentError(absl::StrCat(SamplerClassName(loop->sampler_config().kind),
                                                     " draws noise in its steps; the io file carries none to inject"));
    }
  }

  DenoiseInputs in;
  ASSIGN_OR_RETURN(in.initial_noise, Require(io, "latents_0"));
  ASSIGN_OR_RETURN(in.prompt_embeds, Require(io, "prompt_embeds"));
  const diffusers::UNetConfig& unet = loop->unet_config();
  const bool cfg = loop->UsesClassifierFreeGuidance(settings.guidance_scale);
  if (cfg) {
    ASSIGN_OR_RETURN(in.negative_prompt_embeds, Require(io, "negative_prompt_embeds"));
  }
  if (unet.text_time_embedding) {
    ASSIGN_OR_RETURN(in.pooled, Require(io, "pooled_prompt_embeds"));
    ASSIGN_OR_RETURN(in.time_ids, Require(io, "time_ids"));
    if (cfg) {
      ASSIGN_OR_RETURN(in.negative_pooled, Require(io, "negative_pooled_prompt_embeds"));
    }
  }
  in.steps = settings.steps;
  in.guidance_scale = settings.guidance_scale;
  for (int64_t b = 0; b < in.initial_noise.size(0); ++b) in.sample_ids.push_back(b);
  in.keep_every_step = true;
  ASSIGN_OR_RETURN(DenoiseResult result, loop->Run(in));

  // Identical as the UNet sees them: diffusers holds timesteps in float32 (Euler) or int64.
  ASSIGN_OR_RETURN(torch::Tensor expected_timesteps, Require(io, "timesteps"));
  const torch::Tensor timesteps = torch::tensor(result.timesteps, torch::kDouble);
  report.timesteps_identical = timesteps.sizes() == expected_timesteps.sizes() &&
                               torch::equal(timesteps.to(torch::kFloat), expected_timesteps.to(torch::kFloat));
  for (size_t i = 0; i < result.steps.size(); ++i) {
    const std::string key = absl::StrCat("latents_", i + 1);
    ASSIGN_OR_RETURN(torch::Tensor expected, Require(io, key));
    report.Add(key, tools::MaxRelativeError(result.steps[i], expected));
  }
  ASSIGN_OR_RETURN(torch::Tensor expected_final, Require(io, "latents"));
  report.Add("latents", tools::MaxRelativeError(result.latents.to(torch::kCPU), expected_final));
  about = {{"sampler", SamplerClassName(loop->sampler_config().kind)},
           {"steps", settings.steps},
           {"guidance_scale", settings.guidance_scale},
           {"classifier_free_guidance", cfg}};
  return absl::OkStatus();
}

}  // namespace

int RunVerifySampling(const VerifySamplingOptions& options, std::ostream& out, std::ostream& err) {
  torch::Device device(torch::kCPU);
  if (options.device == "cuda") {
    if (!torch::cuda::is_available()) {
      err << "verify-sampling: --device cuda, but this build has no CUDA device or CUDA support\n";
      return 2;
    }
    device = torch::Device(torch::kCUDA);
    models::SetCudaTf32(false);  // the bound is IEEE fp32's, as verify-model's
  } else if (options.device != "cpu") {
    err << "verify-sampling: --device must be cpu or cuda\n";
    return 2;
  }
  Report report;
  nlohmann::json about;
  absl::Status status;
  try {
    status = Replay(options, device, report, about);
  } catch (const c10::Error& e) {
    status = absl::InvalidArgumentError(e.what_without_backtrace());
  }
  if (!status.ok()) {
    err << "verify-sampling: " << status.message() << "\n";
    return 2;
  }
  nlohmann::json line = about;
  line["device"] = options.device;
  line["tolerance"] = kTolerance;
  line["tolerance_source"] = "verify-model's fp32 bound on UNet outputs";
  line["timesteps_identical"] = report.timesteps_identical;
  line["max_rel_err"] = report.errors;
  line["ok"] = report.ok();
  out << line.dump() << std::endl;
  return report.ok() ? 0 : 1;
}

}  // namespace align::sampling
