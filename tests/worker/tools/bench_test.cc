#include "worker/tools/bench.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "nlohmann/json.hpp"

namespace align::tools {
namespace {

namespace fs = std::filesystem;

BenchOptions TinyBench(const std::string& profile_path) {
  BenchOptions o;
  o.unet_config = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet/config.json";
  o.resolution = 64;
  o.tokens = 8;
  o.precision = "fp32";
  o.device = "cpu";
  o.warmup_steps = 0;
  o.steps = 1;
  o.profile_path = profile_path;
  return o;
}

nlohmann::json RunOrFail(const BenchOptions& o) {
  std::ostringstream out, err;
  EXPECT_EQ(RunBench(o, out, err), 0) << err.str();
  return nlohmann::json::parse(out.str());
}

class BenchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("bench_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(BenchTest, ReportsSpeedWithoutAProfileByDefault) {
  const nlohmann::json line = RunOrFail(TinyBench(""));
  EXPECT_GT(line.at("pairs_per_s").get<double>(), 0);
  EXPECT_GT(line.at("model_tflop_per_step").get<double>(), 0);
  EXPECT_FALSE(line.contains("profile"));
}

TEST_F(BenchTest, ProfileWritesAKinetoTraceAndCountsTheStepsOps) {
  const fs::path trace = dir_ / "traces" / "step.json";
  const nlohmann::json line = RunOrFail(TinyBench(trace.string()));
  const nlohmann::json& profile = line.at("profile");
  EXPECT_EQ(profile.at("trace").get<std::string>(), trace.string());
  // A UNet training step dispatches thousands of ATen ops even at this size.
  EXPECT_GT(profile.at("host_ops_per_step").get<int64_t>(), 1000);
  // No GPU activities on the CPU.
  EXPECT_EQ(profile.at("device_activities_per_step").get<int64_t>(), 0);
  EXPECT_EQ(profile.at("device_busy_fraction").get<double>(), 0.0);

  std::ifstream file(trace);
  ASSERT_TRUE(file.good()) << trace;
  const nlohmann::json chrome_trace = nlohmann::json::parse(file);
  ASSERT_TRUE(chrome_trace.at("traceEvents").is_array());
  bool saw_convolution = false;
  for (const auto& event : chrome_trace.at("traceEvents")) {
    if (event.value("name", "").find("convolution") != std::string::npos) saw_convolution = true;
  }
  EXPECT_TRUE(saw_convolution) << "the trace should hold the UNet's convolutions";
}

TEST_F(BenchTest, FusedOptimizerDispatchesFewerOps) {
  BenchOptions plain = TinyBench((dir_ / "plain.json").string());
  BenchOptions fused = plain;
  fused.fused_optimizer = true;
  fused.profile_path = (dir_ / "fused.json").string();
  const int64_t plain_ops = RunOrFail(plain).at("profile").at("host_ops_per_step").get<int64_t>();
  const int64_t fused_ops = RunOrFail(fused).at("profile").at("host_ops_per_step").get<int64_t>();
  // The plain AdamW runs ~8 ops per parameter; the fused one a few per device.
  EXPECT_LT(fused_ops, plain_ops - 1000) << "plain " << plain_ops << ", fused " << fused_ops;
}

TEST_F(BenchTest, MicroBatchesCountTheirPairsAndWeightCastsPerStepDispatchFewerOps) {
  BenchOptions per_forward = TinyBench((dir_ / "per_forward.json").string());
  per_forward.precision = "bf16";
  per_forward.micro_batches = 3;
  BenchOptions per_step = per_forward;
  per_step.bf16_weight_casts = "per_step";
  per_step.profile_path = (dir_ / "per_step.json").string();
  const nlohmann::json a = RunOrFail(per_forward);
  const nlohmann::json b = RunOrFail(per_step);
  EXPECT_EQ(a.at("micro_batches").get<int>(), 3);
  EXPECT_EQ(b.at("bf16_weight_casts").get<std::string>(), "per_step");
  // Three micro-batches of one pair per step.
  EXPECT_NEAR(a.at("pairs_per_s").get<double>() * a.at("step_s").get<double>(), 3.0, 1e-9);
  // Two micro-batches find every weight's bf16 copy made: hundreds of casts fewer.
  const int64_t ops_per_forward = a.at("profile").at("host_ops_per_step").get<int64_t>();
  const int64_t ops_per_step = b.at("profile").at("host_ops_per_step").get<int64_t>();
  EXPECT_LT(ops_per_step, ops_per_forward - 200) << "per forward " << ops_per_forward << ", per step " << ops_per_step;

  BenchOptions fp32 = per_step;
  fp32.precision = "fp32";
  std::ostringstream out, err;
  EXPECT_EQ(RunBench(fp32, out, err), 2);
  EXPECT_NE(err.str().find("--bf16-weight-casts per_step applies with --precision bf16"), std::string::npos)
      << err.str();
}

TEST_F(BenchTest, AnUnwritableTracePathFailsWithAMessage) {
  const fs::path blocker = dir_ / "file";
  fs::create_directories(dir_);
  std::ofstream(blocker) << "x";
  std::ostringstream out, err;
  EXPECT_NE(RunBench(TinyBench((blocker / "trace.json").string()), out, err), 0);
  EXPECT_NE(err.str().find("--profile"), std::string::npos) << err.str();
}

// --gradient-checkpointing auto plans against the budget and reports the plan;
// full recomputes every block; a budget without auto is refused.
TEST_F(BenchTest, GradientCheckpointingModesReportTheRecomputedBlocks) {
  BenchOptions automatic = TinyBench("");
  automatic.gradient_checkpointing = "auto";
  automatic.memory_budget_gib = 8;
  const nlohmann::json planned = RunOrFail(automatic);
  EXPECT_EQ(planned.at("gradient_checkpointing").get<std::string>(), "auto");
  EXPECT_TRUE(planned.at("recomputed_blocks").empty()) << "the tiny UNet fits 8 GiB";
  const nlohmann::json& plan = planned.at("recompute_plan");
  EXPECT_EQ(plan.at("memory_budget_bytes").get<int64_t>(), int64_t{8} << 30);
  EXPECT_GT(plan.at("estimated_activation_bytes").get<int64_t>(), 0);
  EXPECT_GT(plan.at("estimated_step_bytes").get<int64_t>(), plan.at("estimated_activation_bytes").get<int64_t>());

  BenchOptions full = TinyBench("");
  full.gradient_checkpointing = "full";
  const nlohmann::json all = RunOrFail(full);
  EXPECT_EQ(all.at("recomputed_blocks").size(), 16u);
  EXPECT_FALSE(all.contains("recompute_plan"));

  BenchOptions budget_without_auto = full;
  budget_without_auto.memory_budget_gib = 8;
  std::ostringstream out, err;
  EXPECT_EQ(RunBench(budget_without_auto, out, err), 2);
  EXPECT_NE(err.str().find("--memory-budget-gib"), std::string::npos) << err.str();
}

// --cuda-graph is refused, with the reason, where the step cannot be
// captured: without the fused AdamW, sharded over MPI, on the CPU.
TEST_F(BenchTest, CudaGraphIsRefusedWhereTheStepCannotBeCaptured) {
  auto refusal = [](const BenchOptions& o) {
    std::ostringstream out, err;
    EXPECT_EQ(RunBench(o, out, err), 2) << out.str();
    EXPECT_TRUE(out.str().empty());
    return err.str();
  };
  BenchOptions o = TinyBench("");
  o.cuda_graph = true;
  EXPECT_NE(refusal(o).find("--cuda-graph needs --fused-optimizer"), std::string::npos);
  o.fused_optimizer = true;
  BenchOptions sharded = o;
  sharded.shard_optimizer = true;
  EXPECT_NE(refusal(sharded).find("--cuda-graph does not combine with --shard-optimizer"), std::string::npos);
  EXPECT_NE(refusal(o).find("--cuda-graph needs a CUDA device"), std::string::npos);
  o.device = "auto";
  if (!torch::cuda::is_available()) EXPECT_NE(refusal(o).find("needs a CUDA device"), std::string::npos);
}

// Without the option the line says so.
TEST_F(BenchTest, TheLineSaysWhetherTheStepWasCaptured) {
  EXPECT_FALSE(RunOrFail(TinyBench("")).at("cuda_graph").get<bool>());
}

}  // namespace
}  // namespace align::tools
