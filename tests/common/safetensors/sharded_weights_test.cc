// Sharded weights: single-file and sharded writes read back, stale-file
// cleanup, the golden diffusers layout, and index/shard mismatches.

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/safetensors/sharded_weights.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/temp_dir.h"

namespace align::safetensors {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using align::testing::TempDir;

// The names of the files in `dir`.
std::set<std::string> Listing(const TempDir& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path())) names.insert(entry.path().filename().string());
  return names;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteText(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// Tensors t0..t{n-1}, each `floats` F32 values, with distinct contents.
struct Tensors {
  Tensors(int n, int floats) {
    for (int i = 0; i < n; ++i) {
      std::vector<float> values(floats);
      for (int k = 0; k < floats; ++k) values[k] = static_cast<float>(i * 1000 + k);
      storage.push_back(std::move(values));
    }
    for (int i = 0; i < n; ++i) {
      named.push_back(NamedTensor{"t" + std::to_string(i), DType::kF32, {floats}, storage[i].data(),
                                  storage[i].size() * sizeof(float)});
    }
  }
  std::vector<std::vector<float>> storage;
  std::vector<NamedTensor> named;
};

void ExpectSameTensors(const ShardedWeights& weights, const std::vector<NamedTensor>& tensors) {
  ASSERT_EQ(weights.size(), tensors.size());
  for (const NamedTensor& t : tensors) {
    absl::StatusOr<TensorView> view = weights.Get(t.name);
    ASSERT_TRUE(view.ok()) << view.status();
    EXPECT_EQ(view->info->dtype, t.dtype);
    EXPECT_EQ(view->info->shape, t.shape);
    ASSERT_EQ(view->info->nbytes(), t.nbytes);
    EXPECT_EQ(std::memcmp(view->data, t.data, t.nbytes), 0) << t.name;
  }
}

TEST(WriteShardedWeights, SmallWeightsAreOneFile) {
  TempDir dir;
  Tensors tensors(3, 4);
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named, 1 << 20).ok());
  EXPECT_THAT(Listing(dir), ElementsAre("model.safetensors"));
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  ExpectSameTensors(*weights, tensors.named);
  EXPECT_THAT(weights->Names(), ElementsAre("t0", "t1", "t2"));

  absl::StatusOr<ShardedWeights> by_path = ShardedWeights::OpenPath(dir.File("model.safetensors"));
  ASSERT_TRUE(by_path.ok()) << by_path.status();
  ExpectSameTensors(*by_path, tensors.named);
}

TEST(WriteShardedWeights, ExactlyAtTheLimitIsStillOneFile) {
  TempDir dir;
  Tensors tensors(2, 4);  // 32 bytes
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named, 32).ok());
  EXPECT_THAT(Listing(dir), ElementsAre("model.safetensors"));
}

TEST(WriteShardedWeights, ShardsGreedilyWithDiffusersNames) {
  TempDir dir;
  Tensors tensors(5, 25);  // 100 bytes each
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "diffusion_pytorch_model", tensors.named, 250).ok());
  EXPECT_THAT(Listing(dir), ElementsAre("diffusion_pytorch_model-00001-of-00003.safetensors",
                                         "diffusion_pytorch_model-00002-of-00003.safetensors",
                                         "diffusion_pytorch_model-00003-of-00003.safetensors",
                                         "diffusion_pytorch_model.safetensors.index.json"));
  for (const char* shard : {"diffusion_pytorch_model-00001-of-00003.safetensors",
                            "diffusion_pytorch_model-00002-of-00003.safetensors"}) {
    absl::StatusOr<std::unique_ptr<File>> file = File::Open(dir.File(shard));
    ASSERT_TRUE(file.ok()) << file.status();
    EXPECT_EQ((*file)->tensors().size(), 2u) << shard;
  }

  const nlohmann::json index =
      nlohmann::json::parse(ReadAll(dir.File("diffusion_pytorch_model.safetensors.index.json")));
  EXPECT_EQ(index["metadata"]["total_size"], 500);
  EXPECT_EQ(index["weight_map"]["t0"], "diffusion_pytorch_model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["t3"], "diffusion_pytorch_model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["t4"], "diffusion_pytorch_model-00003-of-00003.safetensors");

  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "diffusion_pytorch_model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  ExpectSameTensors(*weights, tensors.named);

  absl::StatusOr<ShardedWeights> by_index =
      ShardedWeights::OpenPath(dir.File("diffusion_pytorch_model.safetensors.index.json"));
  ASSERT_TRUE(by_index.ok()) << by_index.status();
  ExpectSameTensors(*by_index, tensors.named);
}

TEST(WriteShardedWeights, OversizedTensorGetsItsOwnShard) {
  TempDir dir;
  Tensors small(2, 2);  // 8 bytes each
  Tensors big(1, 100);  // 400 bytes
  std::vector<NamedTensor> all = {small.named[0], big.named[0], small.named[1]};
  all[1].name = "big";
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", all, 16).ok());
  EXPECT_EQ(Listing(dir).count("model-00003-of-00003.safetensors"), 1u);
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  ExpectSameTensors(*weights, all);
}

TEST(WriteShardedWeights, EmptyWeights) {
  TempDir dir;
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", {}, 0).ok());
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->size(), 0u);
}

TEST(WriteShardedWeights, CreatesTheDirectory) {
  TempDir dir;
  Tensors tensors(1, 1);
  ASSERT_TRUE(WriteShardedWeights(dir.File("a/b"), "model", tensors.named).ok());
  EXPECT_TRUE(fs::exists(dir.File("a/b/model.safetensors")));
}

TEST(WriteShardedWeights, RemovesStaleFilesOfTheOtherLayout) {
  TempDir dir;
  Tensors tensors(4, 25);
  WriteText(dir.File("other.safetensors"), "not ours");
  WriteText(dir.File("model-extra.safetensors"), "not a shard name");

  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named, 250).ok());  // 2 shards
  ASSERT_EQ(Listing(dir).count("model.safetensors.index.json"), 1u);

  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named).ok());  // single file
  EXPECT_THAT(Listing(dir), ElementsAre("model-extra.safetensors", "model.safetensors", "other.safetensors"));

  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named, 100).ok());  // 4 shards
  EXPECT_EQ(Listing(dir).count("model.safetensors"), 0u);
  ASSERT_TRUE(WriteShardedWeights(dir.path(), "model", tensors.named, 250).ok());  // 2 shards
  EXPECT_THAT(Listing(dir), ElementsAre("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                         "model-extra.safetensors", "model.safetensors.index.json",
                                         "other.safetensors"));
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  ExpectSameTensors(*weights, tensors.named);
}

TEST(WriteShardedWeights, RejectsBadInputBeforeWritingAnything) {
  TempDir dir;
  Tensors tensors(3, 25);
  std::vector<NamedTensor> duplicated = tensors.named;
  duplicated[2].name = "t0";
  absl::Status status = WriteShardedWeights(dir.path(), "model", duplicated, 100);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"t0\""));

  std::vector<NamedTensor> wrong_size = tensors.named;
  wrong_size[2].nbytes = 3;
  status = WriteShardedWeights(dir.path(), "model", wrong_size, 100);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("\"t2\""));
  EXPECT_TRUE(Listing(dir).empty());

  status = WriteShardedWeights(dir.path(), "a/b", tensors.named);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
}

TEST(ShardedWeights, OpensTheGoldenDiffusersUnet) {
  absl::StatusOr<ShardedWeights> weights =
      ShardedWeights::Open(std::string(ALIGN_GOLDEN_DIR) + "/tiny-sdxl/unet", "diffusion_pytorch_model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  EXPECT_EQ(weights->size(), 718u);
  absl::StatusOr<TensorView> conv = weights->Get("conv_in.weight");
  ASSERT_TRUE(conv.ok()) << conv.status();
  EXPECT_EQ(conv->info->dtype, DType::kF16);
  EXPECT_EQ(conv->info->shape, (std::vector<int64_t>{32, 4, 3, 3}));

  absl::StatusOr<TensorView> missing = weights->Get("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("\"nope\""));
  EXPECT_FALSE(weights->Contains("nope"));
}

TEST(ShardedWeights, NeitherFileNorIndexIsNotFound) {
  TempDir dir;
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir.path(), "model");
  EXPECT_EQ(weights.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(weights.status().message()), HasSubstr("model.safetensors.index.json"));
}

// ---- Index mismatches, on a hand-edited two-shard weights ----

class IndexMismatch : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteShardedWeights(dir_.path(), "model", tensors_.named, 200).ok());  // t0,t1 | t2,t3
    ASSERT_EQ(Listing(dir_).size(), 3u);
  }
  void WriteIndex(const std::string& text) { WriteText(dir_.File("model.safetensors.index.json"), text); }
  void WriteWeightMap(const std::map<std::string, std::string>& weight_map) {
    WriteIndex(nlohmann::json{{"metadata", {{"total_size", 400}}}, {"weight_map", weight_map}}.dump());
  }
  void ExpectError(absl::StatusCode code, const std::vector<std::string>& words) {
    absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir_.path(), "model");
    ASSERT_FALSE(weights.ok()) << "accepted an inconsistent weights";
    EXPECT_EQ(weights.status().code(), code) << weights.status();
    for (const std::string& word : words) {
      EXPECT_THAT(std::string(weights.status().message()), HasSubstr(word));
    }
  }

  const std::string shard1_ = "model-00001-of-00002.safetensors";
  const std::string shard2_ = "model-00002-of-00002.safetensors";
  TempDir dir_;
  Tensors tensors_{4, 25};
};

TEST_F(IndexMismatch, BaselineIsConsistent) {
  WriteWeightMap({{"t0", shard1_}, {"t1", shard1_}, {"t2", shard2_}, {"t3", shard2_}});
  absl::StatusOr<ShardedWeights> weights = ShardedWeights::Open(dir_.path(), "model");
  ASSERT_TRUE(weights.ok()) << weights.status();
  ExpectSameTensors(*weights, tensors_.named);
}

TEST_F(IndexMismatch, IndexNotJson) {
  WriteIndex("{\"weight_map\": {");
  ExpectError(absl::StatusCode::kInvalidArgument, {"model.safetensors.index.json", "not valid JSON"});
}

TEST_F(IndexMismatch, IndexNotAnObject) {
  WriteIndex("[]");
  ExpectError(absl::StatusCode::kInvalidArgument, {"must be a JSON object"});
}

TEST_F(IndexMismatch, WeightMapMissingOrWrongType) {
  WriteIndex(R"({"metadata": {}})");
  ExpectError(absl::StatusCode::kInvalidArgument, {"missing \"weight_map\""});
  WriteIndex(R"({"weight_map": []})");
  ExpectError(absl::StatusCode::kInvalidArgument, {"\"weight_map\" must be an object"});
  WriteIndex(R"({"weight_map": {"t0": 1}})");
  ExpectError(absl::StatusCode::kInvalidArgument, {"\"t0\"", "must be a string"});
  WriteIndex(R"({"metadata": 3, "weight_map": {}})");
  ExpectError(absl::StatusCode::kInvalidArgument, {"\"metadata\""});
}

TEST_F(IndexMismatch, DuplicateKeyInWeightMap) {
  WriteIndex("{\"weight_map\": {\"t0\": \"" + shard1_ + "\", \"t0\": \"" + shard2_ + "\"}}");
  ExpectError(absl::StatusCode::kInvalidArgument, {"duplicate key", "\"t0\""});
}

TEST_F(IndexMismatch, ShardMissing) {
  fs::remove(dir_.File(shard2_));
  WriteWeightMap({{"t0", shard1_}, {"t1", shard1_}, {"t2", shard2_}, {"t3", shard2_}});
  ExpectError(absl::StatusCode::kNotFound, {shard2_});
}

TEST_F(IndexMismatch, ShardNameOutsideTheDirectory) {
  WriteWeightMap({{"t0", "../" + shard1_}});
  ExpectError(absl::StatusCode::kInvalidArgument, {"not a plain file name"});
}

TEST_F(IndexMismatch, KeyAbsentFromItsShard) {
  WriteWeightMap({{"t0", shard1_}, {"t1", shard1_}, {"t2", shard2_}, {"t3", shard2_}, {"t9", shard2_}});
  ExpectError(absl::StatusCode::kDataLoss, {"\"t9\"", shard2_, "does not contain"});
}

TEST_F(IndexMismatch, KeyPresentInTwoShards) {
  // t2 in both shards: rewrite shard 1 to hold t0, t1 and t2.
  Writer writer;
  for (int i : {0, 1, 2}) {
    const NamedTensor& t = tensors_.named[i];
    ASSERT_TRUE(writer.Add(t.name, t.dtype, t.shape, t.data, t.nbytes).ok());
  }
  ASSERT_TRUE(writer.WriteFile(dir_.File(shard1_)).ok());
  WriteWeightMap({{"t0", shard1_}, {"t1", shard1_}, {"t2", shard2_}, {"t3", shard2_}});
  ExpectError(absl::StatusCode::kDataLoss, {"\"t2\"", "two shards", shard1_, shard2_});
}

TEST_F(IndexMismatch, ShardKeyNotListed) {
  WriteWeightMap({{"t0", shard1_}, {"t2", shard2_}, {"t3", shard2_}});
  ExpectError(absl::StatusCode::kDataLoss, {"\"t1\"", shard1_, "does not list"});
}

TEST_F(IndexMismatch, CorruptShardNamesShardAndIndex) {
  WriteText(dir_.File(shard2_), "garbage");
  WriteWeightMap({{"t0", shard1_}, {"t1", shard1_}, {"t2", shard2_}, {"t3", shard2_}});
  ExpectError(absl::StatusCode::kDataLoss, {"model.safetensors.index.json", shard2_});
}

}  // namespace
}  // namespace align::safetensors
