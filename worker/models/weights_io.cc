#include "worker/models/weights_io.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"

namespace align::models {
namespace {

torch::Dtype TorchDType(safetensors::DType dtype) {
  switch (dtype) {
    case safetensors::DType::kF32: return torch::kFloat;
    case safetensors::DType::kF16: return torch::kHalf;
    case safetensors::DType::kBF16: return torch::kBFloat16;
    case safetensors::DType::kF64: return torch::kDouble;
    case safetensors::DType::kI64: return torch::kLong;
    case safetensors::DType::kI32: return torch::kInt;
    case safetensors::DType::kU8: return torch::kByte;
  }
  return torch::kFloat;
}

std::string ListSome(const std::vector<std::string>& keys) {
  constexpr size_t kShown = 20;
  std::vector<std::string> shown(keys.begin(), keys.begin() + std::min(keys.size(), kShown));
  std::string out = absl::StrJoin(shown, ", ");
  if (keys.size() > kShown) absl::StrAppend(&out, ", ... (", keys.size(), " in all)");
  return out;
}

std::string ShapeString(c10::IntArrayRef shape) { return absl::StrCat("[", absl::StrJoin(shape, ","), "]"); }

}  // namespace

torch::Tensor ToTorch(const safetensors::TensorView& view) {
  torch::Tensor out = torch::empty(view.info->shape, torch::TensorOptions().dtype(TorchDType(view.info->dtype)));
  // A copy rather than from_blob: file offsets need not be aligned for the dtype.
  if (view.info->nbytes() > 0) std::memcpy(out.data_ptr(), view.data, view.info->nbytes());
  return out;
}

absl::StatusOr<safetensors::DType> ToSafetensorsDType(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kFloat: return safetensors::DType::kF32;
    case torch::kHalf: return safetensors::DType::kF16;
    case torch::kBFloat16: return safetensors::DType::kBF16;
    case torch::kDouble: return safetensors::DType::kF64;
    case torch::kLong: return safetensors::DType::kI64;
    case torch::kInt: return safetensors::DType::kI32;
    case torch::kByte: return safetensors::DType::kU8;
    default:
      return absl::InvalidArgumentError(absl::StrCat("dtype ", c10::toString(dtype),
                                                     " cannot be stored (F32, F16, BF16, F64, I64, I32, U8)"));
  }
}

absl::StatusOr<std::map<std::string, torch::Tensor>> ReadTensors(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<safetensors::File> file, safetensors::File::Open(path));
  std::map<std::string, torch::Tensor> out;
  for (const safetensors::TensorInfo& info : file->tensors()) {
    ASSIGN_OR_RETURN(safetensors::TensorView view, file->Get(info.name));
    out[info.name] = ToTorch(view);
  }
  return out;
}

absl::Status WriteTensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors) {
  safetensors::Writer writer;
  for (const auto& [name, tensor] : tensors) {
    torch::Tensor cpu = tensor.detach().to(torch::kCPU).contiguous();
    ASSIGN_OR_RETURN(safetensors::DType dtype, ToSafetensorsDType(cpu.scalar_type()));
    RETURN_IF_ERROR(writer.Add(name, dtype, cpu.sizes().vec(), cpu.data_ptr(), cpu.nbytes()));
  }
  return writer.WriteFile(path);
}

absl::Status LoadParameters(torch::nn::Module& module, const safetensors::ShardedWeights& weights,
                            const LoadOptions& options) {
  torch::NoGradGuard no_grad;
  std::vector<std::string> missing, mismatched;
  std::set<std::string> used;
  for (auto& item : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = item.key();
    torch::Tensor& param = item.value();
    std::string key;
    for (const std::string& prefix : options.key_prefixes) {
      if (weights.Contains(prefix + name)) {
        key = prefix + name;
        break;
      }
    }
    if (key.empty()) {
      missing.push_back(name);
      continue;
    }
    used.insert(key);
    ASSIGN_OR_RETURN(safetensors::TensorView view, weights.Get(key));
    if (c10::IntArrayRef(view.info->shape) != param.sizes()) {
      mismatched.push_back(absl::StrCat(key, " (file ", ShapeString(view.info->shape), ", model ",
                                        ShapeString(param.sizes()), ")"));
      continue;
    }
    if (!param.is_meta()) param.copy_(ToTorch(view));
  }
  std::vector<std::string> unexpected;
  const std::set<std::string> ignored(options.ignored_keys.begin(), options.ignored_keys.end());
  for (const std::string& key : weights.Names()) {
    if (used.count(key) == 0 && ignored.count(key) == 0) unexpected.push_back(key);
  }
  if (missing.empty() && mismatched.empty() && unexpected.empty()) return absl::OkStatus();
  std::vector<std::string> problems;
  if (!missing.empty()) problems.push_back(absl::StrCat("missing from the checkpoint: ", ListSome(missing)));
  if (!mismatched.empty()) problems.push_back(absl::StrCat("shape mismatch: ", ListSome(mismatched)));
  if (!unexpected.empty()) {
    problems.push_back(absl::StrCat("not used by the model: ", ListSome(unexpected)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("checkpoint does not match the model; ", absl::StrJoin(problems, "; ")));
}

absl::Status SaveParameters(const torch::nn::Module& module, const std::string& dir,
                            const std::string& base, torch::Dtype on_disk, uint64_t max_shard_bytes) {
  ASSIGN_OR_RETURN(safetensors::DType dtype, ToSafetensorsDType(on_disk));
  std::vector<torch::Tensor> keep_alive;
  std::vector<safetensors::NamedTensor> tensors;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    torch::Tensor cpu = item.value().detach().to(torch::kCPU, on_disk).contiguous();
    keep_alive.push_back(cpu);
    tensors.push_back({item.key(), dtype, cpu.sizes().vec(), cpu.data_ptr(), cpu.nbytes()});
  }
  return safetensors::WriteShardedWeights(dir, base, tensors, max_shard_bytes);
}

}  // namespace align::models
