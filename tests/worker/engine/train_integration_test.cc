// End-to-end training through the command lines users run:
// `alignctl make-synthetic`, then `mpirun -np N align-worker train --spec`.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/float16.h"
#include "common/safetensors/sharded_weights.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "nlohmann/json.hpp"

namespace align {
namespace {

namespace fs = std::filesystem;
const std::string kTiny = std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl";

std::string Mpirun(int ranks) {
  return absl::StrCat("mpirun --allow-run-as-root --oversubscribe --bind-to none -np ", ranks, " ");
}

int Shell(const std::string& command) {
  const int rc = std::system(command.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

class TrainIntegrationTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / absl::StrCat("align_train_it_", ::getpid());
    fs::remove_all(root_);
    fs::create_directories(root_);
    const std::string cmd = absl::StrCat(ALIGN_ALIGNCTL_BIN, " make-synthetic --model ", kTiny,
                                         " --pairs 192 --heldout 64 --tokens 8 --seed 3 --out ",
                                         (root_ / "data").string(), " > ", (root_ / "make.log").string(), " 2>&1");
    ASSERT_EQ(Shell(cmd), 0) << cmd;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  // A spec for the tiny model and the synthetic dataset; `extra` is appended.
  static std::string WriteSpec(const std::string& name, const std::string& loss, const std::string& extra,
                               const std::string& device = "cpu") {
    const fs::path path = root_ / (name + ".yaml");
    std::ofstream(path) << "name: " << name << "\n"
                        << "type: train\n"
                        << "model: " << kTiny << "\n"
                        << "dataset: " << (root_ / "data").string() << "\n"
                        << "output: " << (root_ / name).string() << "\n"
                        << "loss: " << loss << "\n"
                        << "seed: 11\n"
                        << "device: " << device << "\n"
                        << extra;
    return path.string();
  }

  static std::vector<nlohmann::json> Metrics(const std::string& name) {
    std::ifstream in(root_ / name / "metrics.jsonl");
    std::vector<nlohmann::json> lines;
    std::string line;
    while (std::getline(in, line)) lines.push_back(nlohmann::json::parse(line));
    return lines;
  }

  static std::vector<double> HeldoutAccuracies(const std::string& name) {
    std::vector<double> acc;
    for (const auto& j : Metrics(name)) {
      if (j.contains("heldout_implicit_accuracy")) acc.push_back(j["heldout_implicit_accuracy"].get<double>());
    }
    return acc;
  }

  static std::map<std::string, std::vector<float>> Weights(const std::string& checkpoint_dir) {
    auto ckpt = safetensors::ShardedWeights::Open(checkpoint_dir + "/unet", "diffusion_pytorch_model");
    EXPECT_TRUE(ckpt.ok()) << ckpt.status();
    std::map<std::string, std::vector<float>> out;
    for (const std::string& name : ckpt->Names()) {
      auto view = ckpt->Get(name);
      std::vector<float>& values = out[name];
      values.resize(view->info->numel());
      EXPECT_TRUE(data::ConvertToFloat(view->info->dtype, view->data, view->info->numel(), values.data()).ok());
    }
    return out;
  }

  // `align-worker train` on 2 ranks under mpirun; its output goes to <root>/<name>.log.
  static void TrainOnTwoRanks(const std::string& name, const std::string& spec) {
    const fs::path log = root_ / (name + ".log");
    ASSERT_EQ(Shell(Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + spec + " > " + log.string() + " 2>&1"), 0)
        << "see " << log;
  }

  void ExpectLearns(const std::string& name, const std::string& loss) {
    const std::string spec = WriteSpec(name, loss,
                                       "optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.0, warmup_steps: 0, grad_clip: 1.0}\n"
                                       "batch: {pairs_per_rank: 4, grad_accum: 1}\n"
                                       "steps: 30\neval_every: 10\ncheckpoint_every: 0\n");
    TrainOnTwoRanks(name, spec);
    std::vector<double> acc = HeldoutAccuracies(name);
    ASSERT_GE(acc.size(), 2u);
    EXPECT_NEAR(acc.front(), 0.5, 0.2) << name;
    EXPECT_GE(acc.back(), 0.9) << name;
    EXPECT_TRUE(fs::exists(root_ / name / "checkpoint-30" / "unet" / "config.json"));
    EXPECT_EQ(Metrics(name).size(), 30u + acc.size());
  }

  // Defined with the cuda_graph tests below.
  static std::string ExpectCudaGraphRunEqualsEagerRun(const std::string& prefix, const std::string& device,
                                                      const std::string& common, int steps, double rtol,
                                                      double update_fraction);

  static fs::path root_;
};
fs::path TrainIntegrationTest::root_;

TEST_F(TrainIntegrationTest, DiffusionDpoLearnsThePreferenceOnTwoRanks) { ExpectLearns("dpo", "{type: dpo, beta: 5}"); }
TEST_F(TrainIntegrationTest, JensenShannonFdpoLearnsThePreferenceOnTwoRanks) {
  ExpectLearns("fdpo-js", "{type: fdpo, divergence: js, beta: 5}");
}
TEST_F(TrainIntegrationTest, MapoLearnsThePreferenceOnTwoRanks) {
  ExpectLearns("mapo", "{type: mapo, mapo_beta: 0.1}");
}

// LoRA: only rank-8 adapters train (10x full fine-tuning's learning rate, as
// LoRA recipes do) and the reference is the policy with its adapters off.
TEST_F(TrainIntegrationTest, LoraDpoWithBaseReferenceLearnsThePreference) {
  const std::string name = "lora-dpo";
  const std::string spec = WriteSpec(name, "{type: dpo, beta: 5}",
                                     "lora: {rank: 8, alpha: 8}\nreference: base\n"
                                     "optim: {name: adamw, lr: 1.0e-2, weight_decay: 0.0, grad_clip: 1.0}\n"
                                     "batch: {pairs_per_rank: 4, grad_accum: 1}\n"
                                     "steps: 40\neval_every: 10\ncheckpoint_every: 0\n");
  TrainOnTwoRanks(name, spec);
  std::vector<double> acc = HeldoutAccuracies(name);
  ASSERT_GE(acc.size(), 2u);
  EXPECT_NEAR(acc.front(), 0.5, 0.2);
  EXPECT_GE(acc.back(), 0.9);
  const fs::path checkpoint = root_ / name / "checkpoint-40";
  EXPECT_TRUE(fs::exists(checkpoint / "pytorch_lora_weights.safetensors"));
  EXPECT_FALSE(fs::exists(checkpoint / "unet")) << "only adapters are saved unless save_merged";
  double last_norm = 0;
  for (const auto& j : Metrics(name)) {
    if (!j.contains("loss")) continue;
    EXPECT_EQ(j.at("lora_scale").get<double>(), 1.0);
    last_norm = j.at("lora_norm").get<double>();
  }
  EXPECT_GT(last_norm, 0);
}

// A resumed LoRA run (adapter dropout on) ends with the same adapters and
// optimizer state as the uninterrupted one; save_merged adds the merged UNet.
TEST_F(TrainIntegrationTest, ResumedLoraRunContinuesExactly) {
  const std::string name = "lora-resume";
  const std::string spec = WriteSpec(name, "{type: mapo, mapo_beta: 0.1}",
                                     "lora: {rank: 4, alpha: 8, targets: [to_q, to_v, ff], dropout: 0.1, "
                                     "save_merged: true}\n"
                                     "optim: {name: adamw, lr: 1.0e-3}\nbatch: {pairs_per_rank: 2, grad_accum: 2}\n"
                                     "steps: 6\ncheckpoint_every: 3\n");
  const std::string run = Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + spec + " > /dev/null 2>&1";
  ASSERT_EQ(Shell(run), 0);
  const fs::path last = root_ / name / "checkpoint-6";
  ASSERT_TRUE(fs::exists(last / "unet" / "config.json"));
  auto read = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  };
  const std::string adapters = read(last / "pytorch_lora_weights.safetensors");
  const std::string optimizer = read(last / "optimizer.safetensors");
  fs::remove_all(last);
  ASSERT_EQ(Shell(run), 0);
  EXPECT_TRUE(read(last / "pytorch_lora_weights.safetensors") == adapters);
  EXPECT_TRUE(read(last / "optimizer.safetensors") == optimizer);
}

// The largest |a - b| over two runs' tensors of the same names, and the largest |a - base|
// (how far training moved them), for tolerances relative to the update.
struct Divergence {
  double max_difference = 0;
  double max_update = 0;
};
Divergence Compare(const std::map<std::string, std::vector<float>>& a, const std::map<std::string, std::vector<float>>& b,
                   const std::map<std::string, std::vector<float>>& base) {
  Divergence d;
  EXPECT_EQ(a.size(), b.size());
  for (const auto& [name, wa] : a) {
    const auto& wb = b.at(name);
    const auto* w0 = base.count(name) ? &base.at(name) : nullptr;
    EXPECT_EQ(wa.size(), wb.size()) << name;
    for (size_t i = 0; i < wa.size() && i < wb.size(); ++i) {
      d.max_difference = std::max(d.max_difference, std::abs(double(wa[i]) - wb[i]));
      if (w0) d.max_update = std::max(d.max_update, std::abs(double(wa[i]) - (*w0)[i]));
    }
  }
  return d;
}

// Elements of `a` and `b` further apart than `update_fraction` of the largest update plus two fp32
// ulps of the weight (updates are added to weights of magnitude ~1): rounding, where a real
// difference (a wrong shard, a gradient not averaged) moves weights by a whole update.
int64_t OutsideRounding(const std::map<std::string, std::vector<float>>& a,
                        const std::map<std::string, std::vector<float>>& b, double max_update,
                        double update_fraction) {
  int64_t outside = 0;
  for (const auto& [name, wa] : a) {
    const auto& wb = b.at(name);
    for (size_t i = 0; i < wa.size(); ++i) {
      if (std::abs(double(wa[i]) - wb[i]) > update_fraction * max_update + 2.4e-7 * std::abs(wa[i])) ++outside;
    }
  }
  return outside;
}

// Data-parallel correctness: two ranks with B pairs each take the same step as
// one rank with the 2B pairs (same pairs, same noise and timesteps per pair).
// One step, from policy == reference: later steps of Diffusion-DPO amplify
// float noise in the MSEs by beta*T/2, so equality is tested where the math is
// well conditioned. Adam's update g/(|g|+eps) is ill-conditioned for gradient
// entries near eps (float noise of the large ones, ~1e3 here, decides them),
// so a large eps makes the update proportional to the averaged gradient,
// which is what data parallelism must preserve.
TEST_F(TrainIntegrationTest, TwoRankStepEqualsOneRankStepOnTheConcatenatedBatch) {
  const std::string common = "optim: {name: adamw, lr: 1.0e-3, eps: 100.0, weight_decay: 0.01, grad_clip: 0.0}\n"
                             "steps: 1\neval_every: 0\ncheckpoint_every: 0\n";
  const std::string one = WriteSpec("one-rank", "{type: dpo, beta: 5}", common + "batch: {pairs_per_rank: 4, grad_accum: 1}\n");
  const std::string two = WriteSpec("two-ranks", "{type: dpo, beta: 5}", common + "batch: {pairs_per_rank: 2, grad_accum: 1}\n");
  ASSERT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + one + " > /dev/null"), 0);
  ASSERT_EQ(Shell(Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + two + " > /dev/null"), 0);
  const auto a = Weights((root_ / "one-rank" / "checkpoint-1").string());
  const auto b = Weights((root_ / "two-ranks" / "checkpoint-1").string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(a, b, d.max_update, 1e-4), 0) << "largest update " << d.max_update;

  auto la = Metrics("one-rank"), lb = Metrics("two-ranks");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) {
    if (!la[i].contains("loss")) continue;
    const double norm = la[i]["grad_norm"].get<double>();
    EXPECT_NEAR(la[i]["loss"].get<double>(), lb[i]["loss"].get<double>(), 1e-5);
    EXPECT_NEAR(norm, lb[i]["grad_norm"].get<double>(), 1e-4 * norm + 1e-9);
  }
}

// channels_last changes the memory order, not the math: two steps on 2 ranks
// (fused AdamW over the NHWC parameters and their state) end where the NCHW
// run ends, to fp32 rounding, and the checkpoint is written in diffusers' order.
TEST_F(TrainIntegrationTest, ChannelsLastRunEqualsTheNchwRun) {
  // eps 100 keeps the update linear in the gradient, so rounding differences stay rounding-sized.
  const std::string common = "optim: {name: adamw, lr: 1.0e-3, eps: 100.0, weight_decay: 0.01, grad_clip: 0.0, fused: true}\n"
                             "batch: {pairs_per_rank: 2, grad_accum: 1}\nsteps: 2\neval_every: 0\ncheckpoint_every: 0\n";
  TrainOnTwoRanks("nchw", WriteSpec("nchw", "{type: dpo, beta: 5}", common));
  TrainOnTwoRanks("nhwc", WriteSpec("nhwc", "{type: dpo, beta: 5}", common + "channels_last: true\n"));
  const auto a = Weights((root_ / "nchw" / "checkpoint-2").string());
  const auto b = Weights((root_ / "nhwc" / "checkpoint-2").string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(a, b, d.max_update, 1e-4), 0) << "largest update " << d.max_update;
}

// Everything a file holds, for byte-for-byte comparisons.
std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Trains `common` (one rank, `device`) with cuda_graph off and on: every
// logged step (and held-out evaluation) agrees within `rtol`, and the final
// weights outside `update_fraction` of the largest update (OutsideRounding)
// in no element. Returns the cuda_graph run's log.
std::string TrainIntegrationTest::ExpectCudaGraphRunEqualsEagerRun(const std::string& prefix,
                                                                   const std::string& device,
                                                                   const std::string& common, int steps, double rtol,
                                                                   double update_fraction) {
  const std::string eager = WriteSpec(prefix + "-eager", "{type: dpo, beta: 5}", common, device);
  const std::string graph = WriteSpec(prefix + "-graph", "{type: dpo, beta: 5}", common + "cuda_graph: true\n", device);
  const fs::path eager_log = root_ / (prefix + "-eager.log"), graph_log = root_ / (prefix + "-graph.log");
  EXPECT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + eager + " > " + eager_log.string() + " 2>&1"), 0)
      << "see " << eager_log;
  EXPECT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + graph + " > " + graph_log.string() + " 2>&1"), 0)
      << "see " << graph_log;

  const auto la = Metrics(prefix + "-eager"), lb = Metrics(prefix + "-graph");
  EXPECT_EQ(la.size(), lb.size());
  int logged_steps = 0;
  for (size_t i = 0; i < la.size() && i < lb.size(); ++i) {
    for (const char* key : {"loss", "grad_norm", "implicit_accuracy", "reward_margin", "policy_mse_w",
                            "reference_mse_l", "lr", "heldout_loss"}) {
      if (!la[i].contains(key)) continue;
      EXPECT_TRUE(lb[i].contains(key)) << key << " at line " << i;
      if (!lb[i].contains(key)) continue;
      const double a = la[i][key].get<double>(), b = lb[i][key].get<double>();
      EXPECT_NEAR(b, a, rtol * (1 + std::abs(a))) << key << " at line " << i;
    }
    if (la[i].contains("loss")) {
      ++logged_steps;
      EXPECT_EQ(la[i]["skipped"], lb[i]["skipped"]) << "line " << i;
    }
  }
  EXPECT_EQ(logged_steps, steps);
  const std::string last = "checkpoint-" + std::to_string(steps);
  const auto a = Weights((root_ / (prefix + "-eager") / last).string());
  const auto b = Weights((root_ / (prefix + "-graph") / last).string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(a, b, d.max_update, update_fraction), 0) << "largest update " << d.max_update;
  return ReadBytes(graph_log);
}

// eps 100 keeps the update linear in the gradient, so rounding differences
// stay rounding-sized; clipping, a warm-up (a learning rate that changes per
// step), accumulated micro-batches, and a checkpoint and a held-out
// evaluation between steps.
constexpr char kCudaGraphRun[] =
    "optim: {name: adamw, lr: 1.0e-2, eps: 100.0, weight_decay: 0.01, grad_clip: 0.5, fused: true, warmup_steps: 2}\n"
    "batch: {pairs_per_rank: 2, grad_accum: 2}\neval_every: 2\ncheckpoint_every: 2\n";

// cuda_graph takes the graph-safe step (on the CPU eagerly, nothing to
// capture): on one rank it ends where the eager run ends, to fp32 rounding
// (the device step reads its learning rate as a float). On two ranks the job
// fails at start, saying why.
TEST_F(TrainIntegrationTest, CudaGraphRunEqualsTheEagerRunOnOneRank) {
  const std::string said = ExpectCudaGraphRunEqualsEagerRun("graph-cpu", "cpu", std::string(kCudaGraphRun) + "steps: 3\n",
                                                            /*steps=*/3, /*rtol=*/1e-5, /*update_fraction=*/1e-4);
  EXPECT_NE(said.find("cuda_graph: on the CPU the graph-safe step runs eagerly"), std::string::npos) << said;

  const std::string two = WriteSpec("graph-two-ranks", "{type: dpo, beta: 5}",
                                    std::string(kCudaGraphRun) + "steps: 3\ncuda_graph: true\n");
  const fs::path two_log = root_ / "graph-two-ranks.log";
  EXPECT_NE(Shell(Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + two + " > " + two_log.string() + " 2>&1"), 0);
  const std::string refused = ReadBytes(two_log);
  EXPECT_NE(refused.find("cuda_graph: a step on the device runs on one rank"), std::string::npos) << refused;
}

bool HasCudaGpu() { return Shell("nvidia-smi -L 2>/dev/null | grep -q '^GPU'") == 0; }

// On a GPU: 6 steps are the captured step's 3 eager warm-ups, its capture
// (the first replay) and 2 replays, with a checkpoint (the device step count
// read) and a held-out evaluation (eager forwards) between replays. fp32
// without TF32 within CUDA's rounding (its convolution backward need not add
// in one order); then the fast path's other options in bf16, looser.
TEST_F(TrainIntegrationTest, CudaGraphRunEqualsTheEagerRunOnAGpu) {
  if (!HasCudaGpu()) GTEST_SKIP() << "no CUDA GPU (nvidia-smi -L)";
  ExpectCudaGraphRunEqualsEagerRun("graph-cuda", "cuda", std::string(kCudaGraphRun) + "steps: 6\nallow_tf32: false\n",
                                   /*steps=*/6, /*rtol=*/1e-4, /*update_fraction=*/1e-3);
  ExpectCudaGraphRunEqualsEagerRun("graph-cuda-bf16", "cuda",
                                   std::string(kCudaGraphRun) +
                                       "steps: 6\nprecision: bf16\nbf16_weight_casts: per_step\n"
                                       "channels_last: true\nfused_geglu: true\ngradient_checkpointing: true\n",
                                   /*steps=*/6, /*rtol=*/2e-2, /*update_fraction=*/5e-2);
}

// A run killed with SIGKILL after a checkpoint and started again with the same
// spec ends with weights bit-identical to an uninterrupted run (CPU, 2 ranks).
TEST_F(TrainIntegrationTest, KilledRunResumesBitIdentically) {
  const std::string extra = "optim: {name: adamw, lr: 1.0e-3}\nbatch: {pairs_per_rank: 2, grad_accum: 2}\n"
                            "steps: 8\neval_every: 4\ncheckpoint_every: 2\n";
  const std::string straight = WriteSpec("straight", "{type: fdpo, divergence: js, beta: 5}", extra);
  ASSERT_EQ(Shell(Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + straight + " > /dev/null"), 0);

  const std::string resumed = WriteSpec("resumed", "{type: fdpo, divergence: js, beta: 5}", extra);
  const pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    execl("/bin/sh", "sh", "-c", (Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + resumed + " > /dev/null 2>&1").c_str(),
          nullptr);
    _exit(127);
  }
  setpgid(pid, pid);
  const fs::path marker = root_ / "resumed" / "checkpoint-4";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
  while (!fs::exists(marker) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_TRUE(fs::exists(marker)) << "no checkpoint-4 within 5 minutes";
  kill(-pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_FALSE(fs::exists(root_ / "resumed" / "checkpoint-8")) << "the run finished before it was killed";

  ASSERT_EQ(Shell(Mpirun(2) + ALIGN_WORKER_BIN + " train --spec " + resumed + " > " + (root_ / "resume.log").string()), 0);
  auto a = Weights((root_ / "straight" / "checkpoint-8").string());
  auto b = Weights((root_ / "resumed" / "checkpoint-8").string());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, wa] : a) EXPECT_EQ(wa, b.at(name)) << name;
  // No step appears twice in the resumed run's metrics.
  std::set<int64_t> steps;
  for (const auto& j : Metrics("resumed")) {
    if (j.contains("loss")) EXPECT_TRUE(steps.insert(j["step"].get<int64_t>()).second) << j.dump();
  }
  EXPECT_EQ(steps.size(), 8u);
}

// Tensors of one safetensors file as floats (LoRA adapters, optimizer state).
std::map<std::string, std::vector<float>> FileTensors(const fs::path& path) {
  auto file = safetensors::File::Open(path.string());
  EXPECT_TRUE(file.ok()) << file.status();
  std::map<std::string, std::vector<float>> out;
  if (!file.ok()) return out;
  for (const safetensors::TensorInfo& info : (*file)->tensors()) {
    auto view = (*file)->Get(info.name);
    std::vector<float>& values = out[info.name];
    values.resize(info.numel());
    if (info.dtype == safetensors::DType::kI64) {
      for (size_t i = 0; i < values.size(); ++i) {
        int64_t v = 0;
        std::memcpy(&v, view->data + 8 * i, 8);
        values[i] = static_cast<float>(v);
      }
    } else {
      EXPECT_TRUE(data::ConvertToFloat(info.dtype, view->data, info.numel(), values.data()).ok()) << info.name;
    }
  }
  return out;
}

// optim.shard: 3 steps of 2-rank sharded training (optimizer state and averaged gradients in
// shards, weights all-gathered) against replicated training on the same data, with clipping.
// Expected: the same weights up to fp32 rounding. The mean of two ranks' gradients is the same
// bits whether all-reduced or reduce-scattered (a sum of two is the same either way round); the
// global norm differs in fp64 rounding only (about 1e-14 relative: two groupings of one sum),
// which the fp32 clip factor almost never sees; AdamW's elementwise kernels compute each element
// of a flat shard as they do in the parameter's own tensor, up to where a vectorised body and a
// scalar tail meet. On the build machine the two runs end with the same bits. Tolerance: 1e-5 of
// the largest update plus two fp32 ulps of the weight, room for a few ulps of rounding per step
// and far below a real difference (a wrong shard, a missing all-gather or a gradient not averaged
// moves weights by a whole update, about lr).
TEST_F(TrainIntegrationTest, ShardedTrainingMatchesReplicatedOnTwoRanks) {
  const std::string common = "batch: {pairs_per_rank: 2, grad_accum: 2}\nsteps: 3\neval_every: 0\ncheckpoint_every: 0\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.01, grad_clip: 1.0";
  const std::string replicated = WriteSpec("replicated", "{type: dpo, beta: 5}", common + optim + "}\n");
  const std::string sharded = WriteSpec("sharded", "{type: dpo, beta: 5}", common + optim + ", shard: true}\n");
  TrainOnTwoRanks("replicated", replicated);
  TrainOnTwoRanks("sharded", sharded);
  const std::string log = ReadBytes(root_ / "sharded.log");
  EXPECT_NE(log.find("rank 1: optimizer state"), std::string::npos) << log;
  EXPECT_NE(log.find("sharded over 2 ranks"), std::string::npos) << log;

  const auto a = Weights((root_ / "replicated" / "checkpoint-3").string());
  const auto b = Weights((root_ / "sharded" / "checkpoint-3").string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(a, b, d.max_update, 1e-5), 0)
      << "largest update " << d.max_update << ", largest difference " << d.max_difference;

  const auto la = Metrics("replicated"), lb = Metrics("sharded");
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  // Step 1 starts from the same weights: the same loss bits, the same gradients, clipped (the norm
  // is far above grad_clip); later steps too, up to the weights' rounding.
  EXPECT_GT(la[0].at("grad_norm").get<double>(), 1.0);
  EXPECT_EQ(lb[0].at("loss").get<double>(), la[0].at("loss").get<double>());
  for (size_t i = 0; i < la.size(); ++i) {
    if (!la[i].contains("loss")) continue;  // an evaluation line
    const double norm = la[i].at("grad_norm").get<double>();
    EXPECT_NEAR(lb[i].at("grad_norm").get<double>(), norm, 1e-9 * norm) << la[i].dump();
  }
  // The optimizer state is written in the replicated layout: the same names, the same values
  // up to rounding.
  const auto sa = FileTensors(root_ / "replicated" / "checkpoint-3" / "optimizer.safetensors");
  const auto sb = FileTensors(root_ / "sharded" / "checkpoint-3" / "optimizer.safetensors");
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [name, va] : sa) {
    ASSERT_TRUE(sb.count(name)) << name;
    double largest = 0;
    for (float x : va) largest = std::max(largest, double(std::abs(x)));
    const Divergence ds = Compare({{name, va}}, {{name, sb.at(name)}}, {});
    EXPECT_LE(ds.max_difference, 1e-5 * largest) << name;
  }
  EXPECT_EQ(sb.at("step"), std::vector<float>{3});
}

// A sharded run resumed from its checkpoint ends bit-identical to the uninterrupted one (the
// weights and the gathered optimizer state); a replicated run resumes from the same sharded
// checkpoint and ends within fp32 rounding of it.
TEST_F(TrainIntegrationTest, ShardedRunResumesBitIdentically) {
  const std::string common = "batch: {pairs_per_rank: 2, grad_accum: 1}\nsteps: 4\neval_every: 0\ncheckpoint_every: 2\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-3, fused: true";
  const std::string spec = WriteSpec("sharded-resume", "{type: fdpo, divergence: js, beta: 5}", common + optim + ", shard: true}\n");
  TrainOnTwoRanks("sharded-resume", spec);
  const fs::path last = root_ / "sharded-resume" / "checkpoint-4";
  ASSERT_TRUE(fs::exists(last / "unet" / "config.json"));
  const auto weights = Weights(last.string());
  const std::string optimizer = ReadBytes(last / "optimizer.safetensors");

  // A replicated run continues the sharded checkpoint of step 2.
  const fs::path crossed = root_ / "sharded-then-replicated";
  fs::create_directories(crossed);
  fs::copy(root_ / "sharded-resume" / "checkpoint-2", crossed / "checkpoint-2", fs::copy_options::recursive);
  TrainOnTwoRanks("sharded-then-replicated",
                  WriteSpec("sharded-then-replicated", "{type: fdpo, divergence: js, beta: 5}", common + optim + "}\n"));

  fs::remove_all(last);
  TrainOnTwoRanks("sharded-resume", spec);
  const auto resumed = Weights(last.string());
  ASSERT_EQ(resumed.size(), weights.size());
  for (const auto& [name, w] : weights) EXPECT_TRUE(resumed.at(name) == w) << name;
  EXPECT_TRUE(ReadBytes(last / "optimizer.safetensors") == optimizer);

  const auto replicated = Weights((crossed / "checkpoint-4").string());
  const Divergence d = Compare(weights, replicated, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(weights, replicated, d.max_update, 1e-5), 0)
      << "largest update " << d.max_update << ", largest difference " << d.max_difference;
}

// LoRA: only the adapters are flattened and sharded; sharded and replicated adapters agree.
TEST_F(TrainIntegrationTest, ShardedLoraMatchesReplicatedLora) {
  const std::string common = "lora: {rank: 4, alpha: 8}\nreference: base\nbatch: {pairs_per_rank: 2, grad_accum: 1}\n"
                             "steps: 3\neval_every: 0\ncheckpoint_every: 0\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-2";
  TrainOnTwoRanks("lora-replicated", WriteSpec("lora-replicated", "{type: dpo, beta: 5}", common + optim + "}\n"));
  TrainOnTwoRanks("lora-sharded", WriteSpec("lora-sharded", "{type: dpo, beta: 5}", common + optim + ", shard: true}\n"));
  const auto a = FileTensors(root_ / "lora-replicated" / "checkpoint-3" / "pytorch_lora_weights.safetensors");
  const auto b = FileTensors(root_ / "lora-sharded" / "checkpoint-3" / "pytorch_lora_weights.safetensors");
  ASSERT_FALSE(a.empty());
  double largest = 0;
  for (const auto& [name, w] : a) {
    for (float x : w) largest = std::max(largest, double(std::abs(x)));
  }
  const Divergence d = Compare(a, b, {});
  EXPECT_LE(d.max_difference, 1e-5 * largest) << "largest adapter weight " << largest;
  EXPECT_NE(ReadBytes(root_ / "lora-sharded.log").find("sharded over 2 ranks"), std::string::npos);
}

// optim.overlap, replicated: gradients all-reduced bucket by bucket during the last of two
// micro-batches' backward (small buckets: many per model) end with the same bits as the
// all-reduce after backward, clipping included. Each element's mean is the same operations
// either way (the sum over ranks, then / 2); with two ranks an all-reduce adds a + b whichever
// elements share a message.
TEST_F(TrainIntegrationTest, OverlappedReplicatedRunEqualsTheBlockingOneBitForBit) {
  const std::string common = "batch: {pairs_per_rank: 2, grad_accum: 2}\nsteps: 3\neval_every: 0\ncheckpoint_every: 0\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.01, grad_clip: 1.0, bucket_mb: 0.5";
  TrainOnTwoRanks("blocking", WriteSpec("blocking", "{type: dpo, beta: 5}", common + optim + "}\n"));
  TrainOnTwoRanks("overlapped", WriteSpec("overlapped", "{type: dpo, beta: 5}", common + optim + ", overlap: true}\n"));
  EXPECT_NE(ReadBytes(root_ / "overlapped.log").find("gradient buckets all-reduced during backward"), std::string::npos)
      << ReadBytes(root_ / "overlapped.log");
  const auto a = Weights((root_ / "blocking" / "checkpoint-3").string());
  const auto b = Weights((root_ / "overlapped" / "checkpoint-3").string());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, wa] : a) EXPECT_TRUE(wa == b.at(name)) << name;
  const auto la = Metrics("blocking"), lb = Metrics("overlapped");
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  EXPECT_GT(la[0].at("grad_norm").get<double>(), 1.0);  // clipped
  for (size_t i = 0; i < la.size(); ++i) {
    if (!la[i].contains("loss")) continue;  // an evaluation line
    EXPECT_EQ(la[i].at("grad_norm"), lb[i].at("grad_norm")) << i;
  }
}

// optim.overlap, sharded: each bucket reduce-scattered into this rank's part of it during the
// last backward. The averaged gradients are the same bits, but a rank's shard is part r of
// every bucket instead of one 1/N slice of the whole flat buffer, so the fp64 norm is summed in
// another grouping and AdamW's vectorised body and scalar tail meet at other elements: within
// fp32 rounding of the blocking sharded run (the tolerance of ShardedTrainingMatchesReplicated),
// not bit-identical. A resumed overlapped run is bit-identical to the uninterrupted one.
TEST_F(TrainIntegrationTest, OverlappedShardedRunMatchesTheBlockingOneAndResumesBitIdentically) {
  const std::string common = "batch: {pairs_per_rank: 2, grad_accum: 2}\nsteps: 4\neval_every: 0\ncheckpoint_every: 2\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-3, weight_decay: 0.01, grad_clip: 1.0, shard: true, bucket_mb: 0.5";
  TrainOnTwoRanks("sharded-blocking", WriteSpec("sharded-blocking", "{type: dpo, beta: 5}", common + optim + "}\n"));
  const std::string spec = WriteSpec("sharded-overlapped", "{type: dpo, beta: 5}", common + optim + ", overlap: true}\n");
  TrainOnTwoRanks("sharded-overlapped", spec);
  const std::string log = ReadBytes(root_ / "sharded-overlapped.log");
  EXPECT_NE(log.find("gradient buckets reduce-scattered during backward"), std::string::npos) << log;

  const fs::path last = root_ / "sharded-overlapped" / "checkpoint-4";
  const auto a = Weights((root_ / "sharded-blocking" / "checkpoint-4").string());
  const auto b = Weights(last.string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 1e-4);
  EXPECT_EQ(OutsideRounding(a, b, d.max_update, 1e-5), 0)
      << "largest update " << d.max_update << ", largest difference " << d.max_difference;
  const auto la = Metrics("sharded-blocking"), lb = Metrics("sharded-overlapped");
  ASSERT_EQ(la.size(), lb.size());
  ASSERT_FALSE(la.empty());
  EXPECT_GT(la[0].at("grad_norm").get<double>(), 1.0);  // clipped
  for (size_t i = 0; i < la.size(); ++i) {
    if (!la[i].contains("loss")) continue;  // an evaluation line
    const double norm = la[i].at("grad_norm").get<double>();
    EXPECT_NEAR(lb[i].at("grad_norm").get<double>(), norm, 1e-9 * norm) << i;
  }

  const std::string optimizer = ReadBytes(last / "optimizer.safetensors");
  fs::remove_all(last);
  TrainOnTwoRanks("sharded-overlapped", spec);  // resumes from checkpoint-2
  const auto resumed = Weights(last.string());
  ASSERT_EQ(resumed.size(), b.size());
  for (const auto& [name, w] : b) EXPECT_TRUE(resumed.at(name) == w) << name;
  EXPECT_TRUE(ReadBytes(last / "optimizer.safetensors") == optimizer);
}

// LoRA with overlap: only the adapters have hooks and buckets. Replicated: the same bits as
// without overlap; sharded and overlapped: within rounding of them.
TEST_F(TrainIntegrationTest, OverlappedLoraMatchesBlockingLora) {
  const std::string common = "lora: {rank: 4, alpha: 8}\nreference: base\nbatch: {pairs_per_rank: 2, grad_accum: 2}\n"
                             "steps: 3\neval_every: 0\ncheckpoint_every: 0\n";
  const std::string optim = "optim: {name: adamw, lr: 1.0e-2, grad_clip: 1.0e-4, bucket_mb: 0.01";
  TrainOnTwoRanks("lora-blocking", WriteSpec("lora-blocking", "{type: dpo, beta: 5}", common + optim + "}\n"));
  TrainOnTwoRanks("lora-overlapped",
                  WriteSpec("lora-overlapped", "{type: dpo, beta: 5}", common + optim + ", overlap: true}\n"));
  TrainOnTwoRanks("lora-sharded-overlapped", WriteSpec("lora-sharded-overlapped", "{type: dpo, beta: 5}",
                                                       common + optim + ", shard: true, overlap: true}\n"));
  const auto a = FileTensors(root_ / "lora-blocking" / "checkpoint-3" / "pytorch_lora_weights.safetensors");
  const auto b = FileTensors(root_ / "lora-overlapped" / "checkpoint-3" / "pytorch_lora_weights.safetensors");
  const auto c = FileTensors(root_ / "lora-sharded-overlapped" / "checkpoint-3" / "pytorch_lora_weights.safetensors");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, w] : a) EXPECT_TRUE(w == b.at(name)) << name;
  double largest = 0;
  for (const auto& [name, w] : a) {
    for (float x : w) largest = std::max(largest, double(std::abs(x)));
  }
  const Divergence d = Compare(a, c, {});
  EXPECT_LE(d.max_difference, 1e-5 * largest) << "largest adapter weight " << largest;
  EXPECT_GT(Metrics("lora-blocking").at(0).at("grad_norm").get<double>(), 1.0e-4);  // clipped
}

// bf16 autocast over fp32 master weights, with activation checkpointing and
// gradient accumulation: the step runs and its numbers are finite.
TEST_F(TrainIntegrationTest, Bf16WithCheckpointingAndAccumulationTrains) {
  const std::string spec = WriteSpec("bf16", "{type: dpo, beta: 5}",
                                     "optim: {name: adafactor, lr: 1.0e-4}\nbatch: {pairs_per_rank: 2, grad_accum: 2}\n"
                                     "precision: bf16\ngradient_checkpointing: true\nsteps: 3\neval_every: 0\n");
  ASSERT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + spec + " > " + (root_ / "bf16.log").string() + " 2>&1"), 0);
  int steps = 0;
  for (const auto& j : Metrics("bf16")) {
    if (!j.contains("loss")) continue;
    ++steps;
    EXPECT_TRUE(j["loss"].is_number()) << j.dump();
    EXPECT_FALSE(j["skipped"].get<bool>()) << j.dump();
    EXPECT_GT(j["grad_norm"].get<double>(), 0) << j.dump();
  }
  EXPECT_EQ(steps, 3);
}

// Weight copies kept for the step (bf16_weight_casts: per_step) are the
// copies autocast makes per forward: with micro-batches and recomputation the
// trained weights are bit-identical.
TEST_F(TrainIntegrationTest, Bf16WeightCastsPerStepTrainTheSameWeights) {
  const std::string common = "optim: {name: adamw, lr: 1.0e-3}\nbatch: {pairs_per_rank: 1, grad_accum: 2}\n"
                             "precision: bf16\ngradient_checkpointing: true\nsteps: 2\neval_every: 0\n";
  for (const std::string casts : {"per_forward", "per_step"}) {
    const std::string spec =
        WriteSpec("casts-" + casts, "{type: dpo, beta: 5}", common + "bf16_weight_casts: " + casts + "\n");
    ASSERT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + spec + " > /dev/null 2>&1"), 0) << casts;
  }
  const auto a = Weights((root_ / "casts-per_forward" / "checkpoint-2").string());
  const auto b = Weights((root_ / "casts-per_step" / "checkpoint-2").string());
  const Divergence d = Compare(a, b, Weights(kTiny));
  EXPECT_GT(d.max_update, 0);
  EXPECT_EQ(d.max_difference, 0);
}

// Held-out pair 1 is evaluated by rank 1 alone (rank r takes pairs r, r + world, ...), at step 0.
// With a NaN in its latents, rank 1 finds it while rank 0 reads good pairs: every rank must stop
// with rank 1's message, where rank 1 alone used to return and leave rank 0 in a collective
// until MPI aborted the group.
TEST_F(TrainIntegrationTest, ANonFinitePairOnOneRankFailsTheJobOnEveryRankWithItsName) {
  const fs::path data = root_ / "data-nan";
  fs::remove_all(data);
  fs::copy(root_ / "data", data, fs::copy_options::recursive);
  const std::string shard = (data / "heldout-00000.safetensors").string();
  {
    auto file = safetensors::File::Open(shard);
    ASSERT_TRUE(file.ok()) << file.status();
    safetensors::Writer writer;
    for (const safetensors::TensorInfo& info : (*file)->tensors()) {
      auto view = (*file)->Get(info.name);
      ASSERT_TRUE(view.ok()) << view.status();
      std::vector<uint8_t> bytes(view->data, view->data + info.nbytes());
      if (info.name.rfind("latents", 0) == 0) {
        ASSERT_GE(info.shape[0], 2) << "the first held-out shard must hold pair 1";
        const size_t row_bytes = info.nbytes() / static_cast<size_t>(info.shape[0]);
        const size_t element = safetensors::DTypeSize(info.dtype);
        for (size_t at = row_bytes; at < 2 * row_bytes; at += element) {
          if (info.dtype == safetensors::DType::kF32) {
            const float nan = std::nanf("");
            std::memcpy(&bytes[at], &nan, sizeof nan);
          } else {
            const uint16_t nan = info.dtype == safetensors::DType::kF16 ? 0x7E00 : 0x7FC0;
            std::memcpy(&bytes[at], &nan, sizeof nan);
          }
        }
      }
      ASSERT_TRUE(writer.Add(info.name, info.dtype, info.shape, bytes.data(), bytes.size()).ok());
    }
    ASSERT_TRUE(writer.WriteFile(shard).ok());
  }
  const fs::path spec = root_ / "nan.yaml";
  std::ofstream(spec) << "name: nan\ntype: train\nmodel: " << kTiny << "\ndataset: " << data.string()
                      << "\noutput: " << (root_ / "nan").string()
                      << "\nloss: {type: dpo, beta: 5}\nseed: 11\ndevice: cpu\nsteps: 2\neval_every: 1\n";
  const std::string log = (root_ / "nan.log").string();
  // --tag-output: mpirun prefixes what each rank writes with "[job,rank]<stderr>:" (each write,
  // so a line written in pieces carries the tag more than once).
  const int rc = Shell("timeout 300 " + Mpirun(2) + "--tag-output " + ALIGN_WORKER_BIN + " train --spec " +
                       spec.string() + " > " + log + " 2>&1");
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(rc, 1) << text.str();  // the job failed; not killed by the timeout, not aborted by MPI
  std::set<std::string> reporting_ranks;
  std::istringstream lines(text.str());
  const std::regex tag(R"(\[\d+,(\d+)\]<std(out|err)>:)");
  for (std::string line; std::getline(lines, line);) {
    std::smatch first;
    if (!std::regex_search(line, first, tag)) continue;
    if (std::regex_replace(line, tag, "").find("job failed: rank 1: ") != std::string::npos) {
      reporting_ranks.insert(first[1].str());
    }
  }
  EXPECT_EQ(reporting_ranks, (std::set<std::string>{"0", "1"})) << "each rank reports rank 1's failure:\n"
                                                                 << text.str();
  EXPECT_NE(text.str().find("heldout-00000.safetensors"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("non-finite"), std::string::npos) << text.str();
}

TEST_F(TrainIntegrationTest, BadSpecsFailWithTheFieldNamed) {
  const std::string spec = WriteSpec("bad", "{type: fdpo, divergence: chi_squared, beta: 5}", "steps: 2\n");
  const std::string log = (root_ / "bad.log").string();
  EXPECT_EQ(Shell(Mpirun(1) + ALIGN_WORKER_BIN + " train --spec " + spec + " > " + log + " 2>&1"), 2);
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_NE(text.str().find("chi"), std::string::npos) << text.str();
}

}  // namespace
}  // namespace align
