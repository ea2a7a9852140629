// The MPI communicator's collectives, and the sharded updater over them, on
// the ranks of `mpirun -np 2 communicator_test` (tests/CMakeLists.txt): every
// rank runs every test; a failure on any rank fails the run.

#include "worker/engine/communicator.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "worker/engine/parameter_updater.h"

namespace align::engine {
namespace {

class MpiCommunicatorTest : public testing::Test {
 protected:
  void SetUp() override {
    comm_ = MakeMpiCommunicator();
    ASSERT_GE(comm_->world_size(), 2) << "run under mpirun -np 2 (or more)";
  }
  std::unique_ptr<Communicator> comm_;
};

TEST_F(MpiCommunicatorTest, ReduceScatterSumsOrAveragesAndHandsEachRankItsBlock) {
  const int world = comm_->world_size(), rank = comm_->rank();
  const int64_t block = 5;
  // Rank r contributes i + 100 r at element i.
  const torch::Tensor input = torch::arange(world * block, torch::kFloat) + 100.0 * rank;
  const double rank_sum = 100.0 * world * (world - 1) / 2;
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMean}) {
    torch::Tensor output = torch::full({block}, -1.0f);
    comm_->ReduceScatter(input, output, op);
    for (int64_t i = 0; i < block; ++i) {
      const double sum = world * static_cast<double>(rank * block + i) + rank_sum;
      EXPECT_EQ(output[i].item<double>(), op == ReduceOp::kSum ? sum : sum / world) << "element " << i;
    }
  }
  torch::Tensor doubles = torch::zeros({block}, torch::kDouble);
  comm_->ReduceScatter(input.to(torch::kDouble), doubles, ReduceOp::kSum);
  EXPECT_EQ(doubles[0].item<double>(), world * static_cast<double>(rank * block) + rank_sum);
}

TEST_F(MpiCommunicatorTest, AllGatherPlacesEachRankAtItsBlockInPlaceOrNot) {
  const int world = comm_->world_size(), rank = comm_->rank();
  const int64_t block = 3;
  const torch::Tensor mine = torch::full({block}, static_cast<float>(rank + 1));
  torch::Tensor expected = torch::empty({world * block});
  for (int r = 0; r < world; ++r) expected.narrow(0, r * block, block).fill_(static_cast<float>(r + 1));

  torch::Tensor gathered = torch::zeros({world * block});
  comm_->AllGather(mine, gathered);
  EXPECT_TRUE(torch::equal(gathered, expected)) << gathered;

  torch::Tensor in_place = torch::zeros({world * block});
  in_place.narrow(0, rank * block, block).copy_(mine);
  torch::Tensor slot = in_place.narrow(0, rank * block, block);
  comm_->AllGather(slot, in_place);
  EXPECT_TRUE(torch::equal(in_place, expected)) << in_place;
}

TEST_F(MpiCommunicatorTest, MismatchedSizesAreRefusedBeforeAnyCommunication) {
  torch::Tensor output = torch::zeros({3});
  EXPECT_THROW(comm_->ReduceScatter(torch::zeros({3 * comm_->world_size() + 1}), output, ReduceOp::kSum),
               c10::Error);
  torch::Tensor whole = torch::zeros({3 * comm_->world_size() + 1});
  EXPECT_THROW(comm_->AllGather(torch::zeros({3}), whole), c10::Error);
  torch::Tensor overlapping = torch::zeros({3 * comm_->world_size()});
  torch::Tensor inside = overlapping.narrow(0, 0, 3);
  EXPECT_THROW(comm_->ReduceScatter(overlapping, inside, ReduceOp::kSum), c10::Error);
}

// Each rank its own gradients: sharded and replicated updates agree, and
// every rank ends with the same weights.
TEST_F(MpiCommunicatorTest, ShardedUpdaterMatchesTheReplicatedOneAcrossRanks) {
  const std::vector<std::vector<int64_t>> shapes = {{7, 3}, {50}, {2, 2, 5}, {1}};
  auto make = [&] {
    torch::manual_seed(9);  // the same initial weights on every rank
    NamedParameters params;
    for (size_t i = 0; i < shapes.size(); ++i) {
      params.emplace_back("w" + std::to_string(i), torch::randn(shapes[i]).set_requires_grad(true));
    }
    return params;
  };
  NamedParameters replicated_params = make(), sharded_params = make();
  OptimSpec spec;
  spec.weight_decay = 0.01;
  auto replicated = MakeParameterUpdater(replicated_params, spec, *comm_);
  spec.shard = true;
  auto sharded = MakeParameterUpdater(sharded_params, spec, *comm_);
  ASSERT_TRUE(replicated.ok() && sharded.ok());
  EXPECT_LT((*sharded)->StateBytes(), (*replicated)->StateBytes());
  for (int step = 1; step <= 3; ++step) {
    for (auto* updater : {replicated->get(), sharded->get()}) updater->ZeroGradients();
    for (const NamedParameters* params : {&replicated_params, &sharded_params}) {
      torch::manual_seed(1000 * step + comm_->rank());  // per-rank gradients
      torch::Tensor loss = torch::zeros({});
      for (const auto& [name, p] : *params) loss = loss + (p * torch::randn(p.sizes())).sum();
      loss.backward();
    }
    double norms[2];
    int k = 0;
    for (auto* updater : {replicated->get(), sharded->get()}) {
      updater->AverageGradients();
      norms[k++] = updater->GradNorm();
      updater->ScaleGradients(0.5);
      updater->Step(1e-2);
    }
    EXPECT_NEAR(norms[1], norms[0], 1e-12 * norms[0]) << "step " << step;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const torch::Tensor& a = replicated_params[i].second;
      const torch::Tensor& b = sharded_params[i].second;
      EXPECT_LE((a - b).abs().max().item<double>(), 1e-6 * std::max(1.0, a.abs().max().item<double>()))
          << "step " << step << " param " << i;
      // The all-gather leaves every rank with rank 0's bits.
      torch::Tensor root = b.detach().clone();
      comm_->Broadcast(root, 0);
      EXPECT_TRUE(torch::equal(root, b)) << "rank " << comm_->rank() << " param " << i;
    }
  }
  const auto a = (*replicated)->State();
  const auto b = (*sharded)->State();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, tensor] : a) {
    ASSERT_TRUE(b.count(key)) << key;
    EXPECT_LE((tensor.to(torch::kDouble) - b.at(key).to(torch::kDouble)).abs().max().item<double>(),
              1e-6 * std::max(1.0, tensor.abs().max().item<double>()))
        << key;
  }
}

}  // namespace
}  // namespace align::engine
