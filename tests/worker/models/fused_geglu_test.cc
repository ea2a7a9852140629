// The fused GEGLU against the unfused LibTorch ops (CPU: forward and the
// projection's gradient, fp32 and bf16, several shapes), inside the tiny SDXL
// UNet, and the CUDA kernels against the CPU reference where a GPU is present.

#include "worker/models/fused_geglu.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/models/transformer_2d.h"
#include "worker/models/unet_2d_condition.h"
#include "worker/models/unet_io.h"
#include "worker/models/weights_io.h"
#include "worker/tools/max_relative_error.h"

namespace align::models {
namespace {

using tools::MaxRelativeError;

// bf16 keeps 8 significant bits: one rounding is off by at most 2^-8 relative.
constexpr double kBf16Rounding = 1.0 / 256;

struct ForwardBackward {
  torch::Tensor out;
  torch::Tensor grad;  // of the projection, for the upstream gradient given
};

ForwardBackward RunGeglu(torch::Tensor (*geglu)(const torch::Tensor&), const torch::Tensor& projection,
                    const torch::Tensor& upstream) {
  torch::Tensor p = projection.detach().clone().requires_grad_(true);
  torch::Tensor out = geglu(p);
  out.backward(upstream);
  return {out.detach(), p.grad()};
}

// Projections of these shapes: rows = 1, odd inner sizes, 3-D, inner a multiple of 8.
std::vector<std::vector<int64_t>> Shapes() {
  return {{1, 2 * 7}, {1, 2 * 1}, {5, 2 * 13}, {2, 9, 2 * 33}, {3, 4, 2 * 40}, {64, 2 * 320}};
}

// Values spread over gelu's interesting range (its curvature near 0, the tails).
torch::Tensor RandomProjection(const std::vector<int64_t>& shape, torch::Dtype dtype) {
  return (torch::randn(shape) * 2.5).to(dtype);
}

TEST(FusedGegluTest, Fp32MatchesTheUnfusedOpsOnTheCpu) {
  torch::manual_seed(0);
  for (const auto& shape : Shapes()) {
    const torch::Tensor projection = RandomProjection(shape, torch::kFloat);
    const torch::Tensor upstream = torch::randn(UnfusedGeglu(projection).sizes());
    const ForwardBackward fused = RunGeglu(FusedGeglu, projection, upstream);
    const ForwardBackward unfused = RunGeglu(UnfusedGeglu, projection, upstream);
    ASSERT_EQ(fused.out.sizes(), unfused.out.sizes());
    EXPECT_EQ(fused.out.scalar_type(), torch::kFloat);
    EXPECT_LT(MaxRelativeError(fused.out, unfused.out), 1e-6) << projection.sizes();
    EXPECT_LT(MaxRelativeError(fused.grad, unfused.grad), 1e-6) << projection.sizes();
  }
}

// bf16 computes in fp32 and rounds once: each element is within one bf16
// rounding of the fp32 result on the same bf16 inputs (the unfused bf16 ops
// round twice, gelu and then the product, so they are only close).
TEST(FusedGegluTest, Bf16IsTheFp32ResultRoundedOnce) {
  torch::manual_seed(1);
  for (const auto& shape : Shapes()) {
    const torch::Tensor projection = RandomProjection(shape, torch::kBFloat16);
    const torch::Tensor upstream = torch::randn(UnfusedGeglu(projection).sizes()).to(torch::kBFloat16);
    const ForwardBackward fused = RunGeglu(FusedGeglu, projection, upstream);
    const ForwardBackward exact = RunGeglu(UnfusedGeglu, projection.to(torch::kFloat), upstream.to(torch::kFloat));
    EXPECT_EQ(fused.out.scalar_type(), torch::kBFloat16);
    EXPECT_EQ(fused.grad.scalar_type(), torch::kBFloat16);
    for (const auto& [actual, expected] : {std::pair{fused.out, exact.out}, std::pair{fused.grad, exact.grad}}) {
      const torch::Tensor error = (actual.to(torch::kFloat) - expected).abs();
      // Plus a little of the largest value: where erf is near -1 (gate < -3),
      // gelu's last fp32 bits differ between erf implementations.
      const torch::Tensor bound = expected.abs() * kBf16Rounding + 1e-6 * expected.abs().max();
      EXPECT_TRUE((error <= bound).all().item<bool>())
          << projection.sizes() << ": off by up to " << (error / (expected.abs() + 1e-30)).max().item<double>()
          << " relative";
    }
    const ForwardBackward unfused = RunGeglu(UnfusedGeglu, projection, upstream);
    EXPECT_LT(MaxRelativeError(fused.out, unfused.out), 4 * kBf16Rounding) << projection.sizes();
    EXPECT_LT(MaxRelativeError(fused.grad, unfused.grad), 4 * kBf16Rounding) << projection.sizes();
  }
}

TEST(FusedGegluTest, NonContiguousProjections) {
  torch::manual_seed(2);
  const int64_t rows = 6, inner = 11;
  // Transposed storage, and a row-strided slice of a wider tensor.
  const torch::Tensor transposed = torch::randn({2 * inner, rows}).t();
  const torch::Tensor sliced = torch::randn({rows, 2 * inner + 5}).narrow(1, 3, 2 * inner);
  for (const torch::Tensor& projection : {transposed, sliced}) {
    ASSERT_FALSE(projection.is_contiguous());
    const torch::Tensor upstream = torch::randn({rows, inner}).t().contiguous().t();  // non-contiguous too
    const ForwardBackward fused = RunGeglu(FusedGeglu, projection, upstream);
    const ForwardBackward unfused = RunGeglu(UnfusedGeglu, projection, upstream);
    EXPECT_LT(MaxRelativeError(fused.out, unfused.out), 1e-6);
    EXPECT_LT(MaxRelativeError(fused.grad, unfused.grad), 1e-6);
  }
}

TEST(FusedGegluTest, OtherDtypesRunTheUnfusedOps) {
  torch::manual_seed(3);
  const torch::Tensor projection = torch::randn({4, 2 * 5}, torch::kDouble);
  EXPECT_FALSE(FusedGegluRunsFused(projection));
  EXPECT_TRUE(FusedGegluRunsFused(projection.to(torch::kFloat)));
  const torch::Tensor upstream = torch::randn({4, 5}, torch::kDouble);
  const ForwardBackward fused = RunGeglu(FusedGeglu, projection, upstream);
  const ForwardBackward unfused = RunGeglu(UnfusedGeglu, projection, upstream);
  EXPECT_TRUE(torch::equal(fused.out, unfused.out));
  EXPECT_TRUE(torch::equal(fused.grad, unfused.grad));
}

TEST(FusedGegluTest, AnOddLastDimensionIsRefused) {
  EXPECT_THROW(FusedGeglu(torch::randn({3, 7})), c10::Error);
}

// The tiny SDXL UNet (the golden fixture) with every GEGLU fused: the same
// parameters under the same names, the same output and parameter gradients to
// fp32 rounding.
TEST(FusedGegluTest, TheUnetGivesTheSameOutputAndGradients) {
  const std::string dir = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";
  auto io = ReadTensors(dir + "/io.safetensors");
  ASSERT_TRUE(io.ok()) << io.status();
  auto loaded = LoadUNet(dir + "/unet", torch::TensorOptions().dtype(torch::kFloat));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  UNet2DConditionModel unet = *loaded;
  unet->train();
  const UNetInputs in{io->at("sample"), io->at("timestep"), io->at("encoder_hidden_states"), io->at("text_embeds"),
                      io->at("time_ids")};
  const torch::Tensor target = io->at("target");
  auto loss_and_grads = [&] {
    unet->zero_grad();
    torch::Tensor loss = torch::mse_loss(unet->forward(in), target);
    loss.backward();
    std::map<std::string, torch::Tensor> grads;
    for (const auto& p : unet->named_parameters()) grads[p.key()] = p.value().grad().clone();
    return std::pair{loss.detach(), grads};
  };
  auto geglus = [&] {
    std::vector<GEGLUImpl*> found;
    for (const std::shared_ptr<torch::nn::Module>& m : unet->modules()) {
      if (auto* geglu = m->as<GEGLUImpl>()) found.push_back(geglu);
    }
    return found;
  };

  const auto unfused = loss_and_grads();
  const torch::Tensor& loss_unfused = unfused.first;
  const std::map<std::string, torch::Tensor>& grads_unfused = unfused.second;
  EXPECT_FALSE(unet->fused_geglu());
  unet->set_fused_geglu(true);
  EXPECT_TRUE(unet->fused_geglu());
  ASSERT_FALSE(geglus().empty());
  for (const GEGLUImpl* geglu : geglus()) EXPECT_TRUE(geglu->fused());

  auto expect_same = [&](const std::pair<torch::Tensor, std::map<std::string, torch::Tensor>>& fused,
                         const std::string& what) {
    const auto& [loss, grads] = fused;
    EXPECT_NEAR(loss.item<double>(), loss_unfused.item<double>(), 1e-6 * std::abs(loss_unfused.item<double>()))
        << what;
    ASSERT_EQ(grads.size(), grads_unfused.size()) << what;
    double largest = 0;
    for (const auto& [name, g] : grads_unfused) largest = std::max(largest, g.abs().max().item<double>());
    for (const auto& [name, g] : grads_unfused) {
      ASSERT_TRUE(grads.count(name)) << what << ": " << name;
      const double scale = g.abs().max().item<double>();
      EXPECT_LE((grads.at(name) - g).abs().max().item<double>(), 1e-5 * scale + 1e-6 * largest)
          << what << ": " << name;
    }
  };
  expect_same(loss_and_grads(), "fused");
  // Recomputed in backward, the fused op runs again from the block's inputs.
  unet->set_gradient_checkpointing(true);
  expect_same(loss_and_grads(), "fused, recomputed");
  unet->set_gradient_checkpointing(false);

  torch::NoGradGuard no_grad;
  const torch::Tensor out_fused = unet->forward(in);
  unet->set_fused_geglu(false);
  for (const GEGLUImpl* geglu : geglus()) EXPECT_FALSE(geglu->fused());
  EXPECT_LT(MaxRelativeError(out_fused, unet->forward(in)), 1e-6);
}

// The CUDA kernels against the CPU reference: forward and backward, fp32 and
// bf16, the 16-byte path (inner a multiple of 8), the one-element path (odd
// inner, a misaligned start) and more elements than one grid covers.
TEST(FusedGegluTest, CudaKernelsMatchTheCpuReference) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here; a GPU host runs this test";
  if (!FusedGegluHasCudaKernels()) GTEST_SKIP() << "built without the CUDA kernels (CMake found no nvcc)";
  torch::manual_seed(4);
  struct Case {
    std::vector<int64_t> shape;
    torch::Dtype dtype;
  };
  std::vector<Case> cases;
  for (torch::Dtype dtype : {torch::kFloat, torch::kBFloat16}) {
    for (const auto& shape : Shapes()) cases.push_back({shape, dtype});
    cases.push_back({{2, 1024, 2 * 1280}, dtype});  // an SDXL feed-forward's width
  }
  cases.push_back({{4100, 2 * 4099}, torch::kFloat});  // > 65536 blocks of 256 elements
  const torch::Device cuda(torch::kCUDA);
  for (const Case& c : cases) {
    const torch::Tensor projection = RandomProjection(c.shape, c.dtype);
    const torch::Tensor upstream = torch::randn(UnfusedGeglu(projection).sizes()).to(c.dtype);
    const ForwardBackward cpu = RunGeglu(FusedGeglu, projection, upstream);
    const ForwardBackward gpu = RunGeglu(FusedGeglu, projection.to(cuda), upstream.to(cuda));
    torch::cuda::synchronize();
    ASSERT_TRUE(gpu.out.is_cuda());
    // erff and expf on the GPU and the CPU differ by an ulp or two; in bf16
    // that can move a rounding by one step.
    const double bound = c.dtype == torch::kFloat ? 2e-6 : kBf16Rounding;
    EXPECT_LT(MaxRelativeError(gpu.out.cpu(), cpu.out), bound) << projection.sizes() << " " << c.dtype;
    EXPECT_LT(MaxRelativeError(gpu.grad.cpu(), cpu.grad), bound) << projection.sizes() << " " << c.dtype;
  }
  // A contiguous projection whose start is 4 bytes past a 16-byte boundary
  // (a view of a leaf, so no copy realigns it).
  const int64_t rows = 33, inner = 64;
  const torch::Tensor flat = torch::randn({rows * 2 * inner + 1});
  const torch::Tensor upstream = torch::randn({rows, inner});
  torch::Tensor leaf = flat.to(cuda).requires_grad_(true);
  const torch::Tensor misaligned = leaf.narrow(0, 1, rows * 2 * inner).view({rows, 2 * inner});
  ASSERT_TRUE(misaligned.is_contiguous());
  ASSERT_NE(reinterpret_cast<uintptr_t>(misaligned.data_ptr()) % 16, 0u);
  const torch::Tensor out = FusedGeglu(misaligned);
  out.backward(upstream.to(cuda));
  const ForwardBackward cpu = RunGeglu(FusedGeglu, flat.narrow(0, 1, rows * 2 * inner).view({rows, 2 * inner}), upstream);
  EXPECT_LT(MaxRelativeError(out.detach().cpu(), cpu.out), 2e-6);
  const torch::Tensor grad = leaf.grad().cpu().narrow(0, 1, rows * 2 * inner).view({rows, 2 * inner});
  EXPECT_LT(MaxRelativeError(grad, cpu.grad), 2e-6);
}

}  // namespace
}  // namespace align::models
