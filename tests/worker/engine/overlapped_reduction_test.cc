// Gradient reduction overlapped with backward (optim.overlap) on the ranks of
// `mpirun -np 2 overlapped_reduction_test` (tests/CMakeLists.txt): every rank
// runs every test; a failure on any rank fails the run. A small MLP trains for
// three steps of two micro-batches each, with clipping active, in small
// gradient buckets (several per model), with and without overlap.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "worker/engine/communicator.h"
#include "worker/engine/parameter_updater.h"

namespace align::engine {
namespace {

// Forwards to another communicator and counts the collectives started
// without waiting, so a test can see when buckets start.
class CountingCommunicator : public Communicator {
 public:
  explicit CountingCommunicator(Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  std::string backend() const override { return inner_.backend(); }
  void AllReduceSum(torch::Tensor& t) override { inner_.AllReduceSum(t); }
  void Broadcast(torch::Tensor& t, int root) override { inner_.Broadcast(t, root); }
  void ReduceScatter(const torch::Tensor& in, torch::Tensor& out, ReduceOp op) override {
    inner_.ReduceScatter(in, out, op);
  }
  void AllGather(const torch::Tensor& in, torch::Tensor& out) override { inner_.AllGather(in, out); }
  void Barrier() override { inner_.Barrier(); }
  std::unique_ptr<PendingCollective> StartAllReduceSum(torch::Tensor t) override {
    ++started;
    return inner_.StartAllReduceSum(std::move(t));
  }
  std::unique_ptr<PendingCollective> StartReduceScatter(torch::Tensor in, torch::Tensor out, ReduceOp op) override {
    ++started;
    return inner_.StartReduceScatter(std::move(in), std::move(out), op);
  }
  int started = 0;

 private:
  Communicator& inner_;
};

constexpr int kSteps = 3, kMicroBatches = 2;
constexpr double kClip = 0.01;  // far below the gradient norm: every step is clipped

struct TrainedRun {
  std::vector<torch::Tensor> weights;  // every parameter, trainable or not, after the last step
  std::map<std::string, torch::Tensor> state;
  std::vector<int> started_after_backward;  // per micro-batch of the last step: collectives started
  GradientMemory gradient_bytes;
  int64_t trainable_bytes = 0;
};

// `trainable`: which of the MLP's parameters train (LoRA-like when not all).
TrainedRun Train(Communicator& mpi, bool shard, bool overlap, const std::vector<bool>& trainable) {
  CountingCommunicator comm(mpi);
  torch::manual_seed(7);  // the same initial weights on every rank
  torch::nn::Sequential mlp(torch::nn::Linear(8, 32), torch::nn::Tanh(), torch::nn::Linear(32, 32), torch::nn::Tanh(),
                            torch::nn::Linear(32, 24), torch::nn::Tanh(), torch::nn::Linear(24, 3));
  NamedParameters named;
  size_t k = 0;
  TrainedRun run;
  for (auto& item : mlp->named_parameters()) {
    const bool trains = trainable[k++];
    item.value().set_requires_grad(trains);
    if (trains) {
      named.emplace_back(item.key(), item.value());
      run.trainable_bytes += item.value().numel() * 4;
    }
  }
  OptimSpec spec;
  spec.weight_decay = 0.01;
  spec.shard = shard;
  spec.overlap = overlap;
  spec.bucket_mb = 2000.0 / (1 << 20);  // about 2 kB: buckets of one or two weights
  absl::StatusOr<std::unique_ptr<ParameterUpdater>> updater = MakeParameterUpdater(named, spec, comm);
  EXPECT_TRUE(updater.ok()) << updater.status();
  if (!updater.ok()) return run;
  for (int step = 0; step < kSteps; ++step) {
    (*updater)->ZeroGradients();
    run.started_after_backward.clear();
    for (int micro = 0; micro < kMicroBatches; ++micro) {
      torch::manual_seed(100 * step + 10 * micro + comm.rank());  // each rank its own data
      const torch::Tensor x = torch::randn({5, 8});
      const torch::Tensor loss = mlp->forward(x).pow(2).mean() / kMicroBatches;
      if (micro == kMicroBatches - 1) (*updater)->BeforeLastBackward();
      loss.backward();
      run.started_after_backward.push_back(comm.started);
    }
    (*updater)->AverageGradients();
    const double norm = (*updater)->GradNorm();
    EXPECT_GT(norm, kClip) << "step " << step;
    (*updater)->ScaleGradients(kClip / (norm + 1e-6));
    (*updater)->Step(1e-2);
    comm.started = 0;
  }
  run.gradient_bytes = (*updater)->GradientBytes();
  run.state = (*updater)->State();
  for (const auto& p : mlp->parameters()) run.weights.push_back(p.detach().clone());
  return run;
}

// |a - b| within a few fp32 ulps of the weights' scale (rounding), far below one update (~lr).
void ExpectWithinRounding(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_LE((a[i] - b[i]).abs().max().item<double>(), 1e-6 * std::max(1.0, a[i].abs().max().item<double>()))
        << "param " << i;
  }
}

class OverlappedReductionTest : public testing::Test {
 protected:
  void SetUp() override {
    comm_ = MakeMpiCommunicator();
    ASSERT_GE(comm_->world_size(), 2) << "run under mpirun -np 2 (or more)";
  }
  std::unique_ptr<Communicator> comm_;
  const std::vector<bool> all_ = std::vector<bool>(8, true);
};

// Replicated: the same bits with and without overlap. Each element's mean is
// the same operations either way (the ranks' sum, then / world size); only
// which elements share a collective differs, and with two ranks an
// all-reduce adds a + b whatever the message.
TEST_F(OverlappedReductionTest, ReplicatedOverlapEqualsTheBlockingReductionBitForBit) {
  const TrainedRun blocking = Train(*comm_, /*shard=*/false, /*overlap=*/false, all_);
  const TrainedRun overlapped = Train(*comm_, /*shard=*/false, /*overlap=*/true, all_);
  ASSERT_EQ(blocking.weights.size(), overlapped.weights.size());
  for (size_t i = 0; i < blocking.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(blocking.weights[i], overlapped.weights[i])) << "param " << i;
  }
  for (const auto& [key, tensor] : blocking.state) EXPECT_TRUE(torch::equal(tensor, overlapped.state.at(key))) << key;
  // No collective during the first micro-batch's backward; every bucket (8
  // weights of 512..4224 bytes in 2 kB buckets) started during the last one.
  ASSERT_EQ(overlapped.started_after_backward.size(), 2u);
  EXPECT_EQ(overlapped.started_after_backward[0], 0);
  EXPECT_GE(overlapped.started_after_backward[1], 4);
  EXPECT_EQ(blocking.started_after_backward[1], 0);
}

// Sharded: overlap flattens and shards bucket by bucket (rank r owns part r
// of every bucket) instead of over one flat buffer, so the elements each rank
// steps and sums into the norm differ: the same means, but the fp64 norm is
// summed in another grouping and AdamW's vectorised body and scalar tail meet
// at other elements. Within rounding, not bit-identical.
TEST_F(OverlappedReductionTest, ShardedOverlapMatchesTheBlockingReductionWithinRounding) {
  const TrainedRun blocking = Train(*comm_, /*shard=*/true, /*overlap=*/false, all_);
  const TrainedRun overlapped = Train(*comm_, /*shard=*/true, /*overlap=*/true, all_);
  const TrainedRun replicated = Train(*comm_, /*shard=*/false, /*overlap=*/true, all_);
  ExpectWithinRounding(blocking.weights, overlapped.weights);
  ExpectWithinRounding(replicated.weights, overlapped.weights);
  // The gathered state has the replicated layout whichever way it was sharded.
  ASSERT_EQ(blocking.state.size(), overlapped.state.size());
  for (const auto& [key, tensor] : blocking.state) {
    ASSERT_TRUE(overlapped.state.count(key)) << key;
    EXPECT_LE((tensor.to(torch::kDouble) - overlapped.state.at(key).to(torch::kDouble)).abs().max().item<double>(),
              1e-6 * std::max(1.0, tensor.abs().max().item<double>()))
        << key;
  }
  EXPECT_EQ(overlapped.started_after_backward[0], 0);
  EXPECT_GE(overlapped.started_after_backward[1], 4);
  // Between backward and the step a rank holds its shards only (at most
  // 1/ranks of the gradient plus padding), not the whole-model gradient the
  // blocking reduce-scatter keeps.
  EXPECT_GE(blocking.gradient_bytes.held, blocking.trainable_bytes);
  EXPECT_LT(overlapped.gradient_bytes.held, blocking.trainable_bytes / comm_->world_size() + 8 * 64 * 4 * 2);
  EXPECT_GE(overlapped.gradient_bytes.peak, overlapped.gradient_bytes.held);
}

// Only some parameters train (as LoRA's adapters do): the frozen ones stay
// as they were, the trainable ones agree as above.
TEST_F(OverlappedReductionTest, OverlapWithFrozenParametersMatches) {
  const std::vector<bool> some = {true, false, false, false, true, true, false, true};
  const TrainedRun replicated = Train(*comm_, /*shard=*/false, /*overlap=*/false, some);
  const TrainedRun replicated_overlapped = Train(*comm_, /*shard=*/false, /*overlap=*/true, some);
  const TrainedRun sharded = Train(*comm_, /*shard=*/true, /*overlap=*/false, some);
  const TrainedRun sharded_overlapped = Train(*comm_, /*shard=*/true, /*overlap=*/true, some);
  for (size_t i = 0; i < replicated.weights.size(); ++i) {
    EXPECT_TRUE(torch::equal(replicated.weights[i], replicated_overlapped.weights[i])) << "param " << i;
  }
  ExpectWithinRounding(sharded.weights, sharded_overlapped.weights);
  ExpectWithinRounding(replicated.weights, sharded_overlapped.weights);
  torch::manual_seed(7);
  torch::nn::Sequential initial(torch::nn::Linear(8, 32), torch::nn::Tanh(), torch::nn::Linear(32, 32),
                                torch::nn::Tanh(), torch::nn::Linear(32, 24), torch::nn::Tanh(),
                                torch::nn::Linear(24, 3));
  const auto params = initial->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    if (!some[i]) EXPECT_TRUE(torch::equal(params[i], sharded_overlapped.weights[i])) << "frozen param " << i;
  }
}

TEST_F(OverlappedReductionTest, NonBlockingCollectivesEqualTheBlockingOnes) {
  const int world = comm_->world_size(), rank = comm_->rank();
  const torch::Tensor input = torch::arange(world * 6, torch::kFloat) * (rank + 1) + 0.25 * rank;
  torch::Tensor blocking = torch::empty({6});
  comm_->ReduceScatter(input, blocking, ReduceOp::kMean);
  torch::Tensor started = torch::full({6}, -1.0f);
  std::unique_ptr<PendingCollective> scatter = comm_->StartReduceScatter(input, started, ReduceOp::kMean);
  torch::Tensor summed = input.clone();
  std::unique_ptr<PendingCollective> reduce = comm_->StartAllReduceSum(summed);
  while (!reduce->Test()) {
  }
  scatter->Wait();
  reduce->Wait();
  EXPECT_TRUE(torch::equal(started, blocking)) << started << blocking;
  torch::Tensor expected = input.clone();
  comm_->AllReduceSum(expected);
  EXPECT_TRUE(torch::equal(summed, expected));
}

}  // namespace
}  // namespace align::engine
