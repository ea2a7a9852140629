#include "worker/sampling/verify_sampler.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/diffusers/model_folder.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "worker/models/weights_io.h"
#include "worker/sampling/make_sampler.h"
#include "worker/sampling/sampler_config.h"
#include "worker/tools/max_relative_error.h"

namespace align::sampling {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

// The reference is float32 throughout; what diffusers and this code may
// differ by is a few float32 roundings per step.
constexpr double kTolerance = 1e-5;

absl::StatusOr<torch::Tensor> Require(const TensorMap& io, const std::string& key) {
  auto it = io.find(key);
  if (it == io.end()) return absl::InvalidArgumentError(absl::StrCat("io file has no '", key, "' tensor"));
  return it->second;
}

template <typename T>
torch::Tensor AsDoubles(const std::vector<T>& values) {
  std::vector<double> d(values.begin(), values.end());
  return torch::tensor(d, torch::kDouble);
}

struct Report {
  nlohmann::json errors = nlohmann::json::object();
  double worst = 0;

  void Add(const std::string& name, double error) {
    errors[name] = error;
    if (!(error <= worst)) worst = error;  // NaN counts as the worst
  }
  bool ok() const { return worst <= kTolerance; }
};

absl::Status Replay(const VerifySamplerOptions& options, Report& report, std::string& class_name,
                    int64_t& replayed) {
  ASSIGN_OR_RETURN(SamplerConfig config, LoadSamplerConfig(diffusers::SchedulerConfigPath(options.case_dir)));
  class_name = SamplerClassName(config.kind);
  ASSIGN_OR_RETURN(TensorMap io, models::ReadTensors(options.case_dir + "/io.safetensors"));
  ASSIGN_OR_RETURN(torch::Tensor expected_timesteps, Require(io, "timesteps"));
  const int64_t n = expected_timesteps.numel();
  std::unique_ptr<Sampler> sampler = MakeSampler(config);
  RETURN_IF_ERROR(sampler->SetTimesteps(n));

  report.Add("timesteps", tools::MaxRelativeError(AsDoubles(sampler->timesteps()), expected_timesteps));
  if (io.count("sigmas")) report.Add("sigmas", tools::MaxRelativeError(AsDoubles(sampler->sigmas()), io.at("sigmas")));
  ASSIGN_OR_RETURN(torch::Tensor expected_sigma, Require(io, "init_noise_sigma"));
  report.Add("init_noise_sigma",
             tools::MaxRelativeError(torch::tensor({sampler->init_noise_sigma()}, torch::kDouble),
                                     expected_sigma.reshape({1})));

  replayed = options.steps > 0 ? std::min(options.steps, n) : n;
  ASSIGN_OR_RETURN(torch::Tensor sample, Require(io, "sample_0"));
  double scaled_error = 0, sample_error = 0, denoised_error = 0;
  bool any_denoised = false;
  auto worse = [](double a, double b) { return a >= b ? a : b; };
  for (int64_t i = 0; i < replayed; ++i) {
    const std::string k = std::to_string(i);
    ASSIGN_OR_RETURN(torch::Tensor expected_scaled, Require(io, "scaled_" + k));
    scaled_error = worse(scaled_error, tools::MaxRelativeError(sampler->ScaleModelInput(sample, i), expected_scaled));
    ASSIGN_OR_RETURN(torch::Tensor model_output, Require(io, "model_output_" + k));
    const torch::Tensor* noise = io.count("noise_" + k) ? &io.at("noise_" + k) : nullptr;
    ASSIGN_OR_RETURN(SamplerStepOutput step, sampler->Step(model_output, i, sample, noise));
    ASSIGN_OR_RETURN(torch::Tensor expected_next, Require(io, "sample_" + std::to_string(i + 1)));
    sample_error = worse(sample_error, tools::MaxRelativeError(step.prev_sample, expected_next));
    if (io.count("denoised_" + k)) {
      any_denoised = true;
      denoised_error = worse(denoised_error, step.denoised.defined()
                                                 ? tools::MaxRelativeError(step.denoised, io.at("denoised_" + k))
                                                 : std::numeric_limits<double>::infinity());
    }
    // Carry our own sample on, as a real run does: errors compound as they would.
    sample = step.prev_sample;
  }
  report.Add("scaled", scaled_error);
  report.Add("sample", sample_error);
  if (any_denoised) report.Add("denoised", denoised_error);
  return absl::OkStatus();
}

}  // namespace

int RunVerifySampler(const VerifySamplerOptions& options, std::ostream& out, std::ostream& err) {
  Report report;
  std::string class_name;
  int64_t replayed = 0;
  absl::Status status;
  try {
    status = Replay(options, report, class_name, replayed);
  } catch (const c10::Error& e) {
    status = absl::InvalidArgumentError(e.what_without_backtrace());
  }
  if (!status.ok()) {
    err << "verify-sampler: " << status.message() << "\n";
    return 2;
  }
  nlohmann::json line = {{"sampler", class_name},     {"steps", replayed}, {"tolerance", kTolerance},
                         {"max_rel_err", report.errors}, {"ok", report.ok()}};
  out << line.dump() << std::endl;
  return report.ok() ? 0 : 1;
}

}  // namespace align::sampling
