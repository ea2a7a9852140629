#include "worker/models/fused_geglu.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#ifdef ALIGN_WITH_CUDA_KERNELS
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "worker/kernels/geglu_kernel.h"
#endif

namespace align::models {
namespace {

constexpr float kSqrtHalf = 0.70710678118654752440f;    // 1 / sqrt(2)
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;  // 1 / sqrt(2 pi)

// The CPU reference: the same formulas as the CUDA kernels, in fp32.
float NormalCdf(float x) { return 0.5f * (1.0f + std::erf(x * kSqrtHalf)); }
float Gelu(float x) { return x * NormalCdf(x); }
float GeluDerivative(float x) { return NormalCdf(x) + x * (std::exp(-0.5f * x * x) * kInvSqrt2Pi); }

// Rows per parallel_for task: about ATen's grain of elements.
int64_t GrainRows(int64_t inner) {
  return std::max<int64_t>(1, at::internal::GRAIN_SIZE / std::max<int64_t>(inner, 1));
}

template <typename T>
void ForwardOnCpu(const T* projection, T* out, int64_t rows, int64_t inner) {
  at::parallel_for(0, rows, GrainRows(inner), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* hidden = projection + r * 2 * inner;
      const T* gate = hidden + inner;
      T* out_row = out + r * inner;
      for (int64_t c = 0; c < inner; ++c) {
        out_row[c] = static_cast<T>(static_cast<float>(hidden[c]) * Gelu(static_cast<float>(gate[c])));
      }
    }
  });
}

// The products in the order autograd forms them for the unfused ops.
template <typename T>
void BackwardOnCpu(const T* grad_out, const T* projection, T* grad_projection, int64_t rows, int64_t inner) {
  at::parallel_for(0, rows, GrainRows(inner), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const T* hidden = projection + r * 2 * inner;
      const T* gate = hidden + inner;
      const T* g = grad_out + r * inner;
      T* grad_hidden = grad_projection + r * 2 * inner;
      T* grad_gate = grad_hidden + inner;
      for (int64_t c = 0; c < inner; ++c) {
        const float gc = static_cast<float>(g[c]);
        const float a = static_cast<float>(gate[c]);
        grad_hidden[c] = static_cast<T>(gc * Gelu(a));
        grad_gate[c] = static_cast<T>((gc * static_cast<float>(hidden[c])) * GeluDerivative(a));
      }
    }
  });
}

#ifdef ALIGN_WITH_CUDA_KERNELS
void CheckLaunch(cudaError_t status, const char* kernel) {
  TORCH_CHECK(status == cudaSuccess, kernel, " failed to launch: ", cudaGetErrorString(status));
}

const __nv_bfloat16* Bf16(const torch::Tensor& t) {
  return reinterpret_cast<const __nv_bfloat16*>(t.data_ptr<at::BFloat16>());
}
__nv_bfloat16* MutableBf16(torch::Tensor& t) { return reinterpret_cast<__nv_bfloat16*>(t.data_ptr<at::BFloat16>()); }
#endif

void CheckShape(const torch::Tensor& projection) {
  TORCH_CHECK(projection.dim() >= 1 && projection.size(-1) % 2 == 0,
              "GEGLU needs a projection [..., 2 * inner], got ", projection.sizes());
}

std::vector<int64_t> HalfWidth(const torch::Tensor& projection) {
  std::vector<int64_t> sizes = projection.sizes().vec();
  sizes.back() /= 2;
  return sizes;
}

}  // namespace

torch::Tensor UnfusedGeglu(const torch::Tensor& projection) {
  auto halves = projection.chunk(2, -1);
  return halves[0] * torch::gelu(halves[1]);
}

bool FusedGegluHasCudaKernels() {
#ifdef ALIGN_WITH_CUDA_KERNELS
  return true;
#else
  return false;
#endif
}

bool FusedGegluRunsFused(const torch::Tensor& projection) {
  const bool dtype = projection.scalar_type() == torch::kFloat || projection.scalar_type() == torch::kBFloat16;
  const bool device = projection.device().is_cpu() || (projection.device().is_cuda() && FusedGegluHasCudaKernels());
  return dtype && device;
}

torch::Tensor FusedGegluForward(const torch::Tensor& projection_in) {
  CheckShape(projection_in);
  TORCH_CHECK(FusedGegluRunsFused(projection_in), "no fused GEGLU for ", projection_in.scalar_type(), " on ",
              projection_in.device());
  const torch::Tensor projection = projection_in.contiguous();
  torch::Tensor out = torch::empty(HalfWidth(projection), projection.options());
  const int64_t inner = out.size(-1);
  const int64_t rows = inner == 0 ? 0 : out.numel() / inner;
  const bool bf16 = projection.scalar_type() == torch::kBFloat16;
  if (projection.device().is_cpu()) {
    if (bf16) {
      ForwardOnCpu(projection.data_ptr<at::BFloat16>(), out.data_ptr<at::BFloat16>(), rows, inner);
    } else {
      ForwardOnCpu(projection.data_ptr<float>(), out.data_ptr<float>(), rows, inner);
    }
    return out;
  }
#ifdef ALIGN_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard device_guard(projection.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(projection.device().index()).stream();
  CheckLaunch(bf16 ? kernels::LaunchGegluForward(Bf16(projection), MutableBf16(out), rows, inner, stream)
                   : kernels::LaunchGegluForward(projection.data_ptr<float>(), out.data_ptr<float>(), rows,
                                                 inner, stream),
              "the GEGLU forward kernel");
#endif
  return out;
}

torch::Tensor FusedGegluBackward(const torch::Tensor& grad_out_in, const torch::Tensor& projection_in) {
  CheckShape(projection_in);
  TORCH_CHECK(FusedGegluRunsFused(projection_in), "no fused GEGLU for ", projection_in.scalar_type(), " on ",
              projection_in.device());
  TORCH_CHECK(grad_out_in.sizes() == torch::IntArrayRef(HalfWidth(projection_in)), "GEGLU's output gradient is ",
              grad_out_in.sizes(), ", its output ", torch::IntArrayRef(HalfWidth(projection_in)));
  const torch::Tensor projection = projection_in.contiguous();
  const torch::Tensor grad_out = grad_out_in.to(projection.options()).contiguous();
  torch::Tensor grad_projection = torch::empty_like(projection);
  const int64_t inner = grad_out.size(-1);
  const int64_t rows = inner == 0 ? 0 : grad_out.numel() / inner;
  const bool bf16 = projection.scalar_type() == torch::kBFloat16;
  if (projection.device().is_cpu()) {
    if (bf16) {
      BackwardOnCpu(grad_out.data_ptr<at::BFloat16>(), projection.data_ptr<at::BFloat16>(),
                    grad_projection.data_ptr<at::BFloat16>(), rows, inner);
    } else {
      BackwardOnCpu(grad_out.data_ptr<float>(), projection.data_ptr<float>(), grad_projection.data_ptr<float>(),
                    rows, inner);
    }
    return grad_projection;
  }
#ifdef ALIGN_WITH_CUDA_KERNELS
  const c10::cuda::CUDAGuard device_guard(projection.device());
  const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(projection.device().index()).stream();
  CheckLaunch(bf16 ? kernels::LaunchGegluBackward(Bf16(grad_out), Bf16(projection), MutableBf16(grad_projection),
                                                  rows, inner, stream)
                   : kernels::LaunchGegluBackward(grad_out.data_ptr<float>(), projection.data_ptr<float>(),
                                                  grad_projection.data_ptr<float>(), rows, inner, stream),
              "the GEGLU backward kernel");
#endif
  return grad_projection;
}

torch::Tensor FusedGegluFunction::forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& projection) {
  // The projection alone is saved: backward recomputes gelu from it.
  const torch::Tensor saved = projection.contiguous();
  ctx->save_for_backward({saved});
  return FusedGegluForward(saved);
}

torch::autograd::tensor_list FusedGegluFunction::backward(torch::autograd::AutogradContext* ctx,
                                                          torch::autograd::tensor_list grad_outputs) {
  const torch::Tensor projection = ctx->get_saved_variables()[0];
  if (!grad_outputs[0].defined()) return {torch::Tensor()};
  return {FusedGegluBackward(grad_outputs[0], projection)};
}

torch::Tensor FusedGeglu(const torch::Tensor& projection) {
  CheckShape(projection);
  if (!FusedGegluRunsFused(projection)) return UnfusedGeglu(projection);
  return FusedGegluFunction::apply(projection);
}

}  // namespace align::models
