// Prepared datasets: half/bfloat16 conversion, writer/reader round trips, one
// malformed dataset per validation rule, and the prefetching reader.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/dataset/float16.h"
#include "common/dataset/manifest.h"
#include "common/dataset/prefetch.h"
#include "common/dataset/reader.h"
#include "common/dataset/writer.h"
#include "common/file_util.h"
#include "common/safetensors/reader.h"
#include "common/safetensors/writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/temp_dir.h"

namespace align::data {
namespace {

namespace fs = std::filesystem;
using safetensors::DType;
using ::testing::HasSubstr;

using align::testing::TempDir;

const PairShape kShape = {/*latent_channels=*/2, /*latent_height=*/3, /*latent_width=*/4,
                          /*tokens=*/5,          /*context_dim=*/6,   /*pooled_dim=*/7};

// Pair `id`'s values: distinct per tensor and pair, exactly representable in
// F16 and BF16 (multiples of 1/4 below 64).
struct PairData {
  std::vector<float> latents_w, latents_l, prompt, pooled, time_ids;
  float difficulty, score_w, score_l;
};

PairData MakePair(int64_t id, const PairShape& shape = kShape) {
  PairData p;
  const auto fill = [&](std::vector<float>& v, int64_t n, int tensor) {
    v.resize(n);
    for (int64_t i = 0; i < n; ++i)
      v[i] = static_cast<float>(((id * 7 + tensor * 13 + i) % 200) - 100) / 4.0f;
  };
  fill(p.latents_w, shape.latent_numel(), 1);
  fill(p.latents_l, shape.latent_numel(), 2);
  fill(p.prompt, shape.prompt_numel(), 3);
  fill(p.pooled, shape.pooled_dim, 4);
  fill(p.time_ids, kTimeIdsPerPair, 5);
  p.difficulty = static_cast<float>(id % 8) / 8.0f;
  p.score_w = 1.0f + id;
  p.score_l = -1.0f - id;
  return p;
}

PairRecord Record(const PairData& p, int64_t id, bool difficulty = true, bool scores = false) {
  PairRecord r;
  r.latents_w = p.latents_w;
  r.latents_l = p.latents_l;
  r.prompt_embeds = p.prompt;
  r.pooled_prompt_embeds = p.pooled;
  r.time_ids = p.time_ids;
  r.pair_id = id;
  if (difficulty) r.difficulty = p.difficulty;
  if (scores) {
    r.score_w = p.score_w;
    r.score_l = p.score_l;
  }
  return r;
}

// A dataset of `train` + `heldout` pairs (ids 100.., heldout after train).
absl::StatusOr<Manifest> WriteDataset(const std::string& dir, int64_t train, int64_t heldout,
                                      WriterOptions options = {}) {
  options.has_difficulty = true;
  if (options.pairs_per_shard == WriterOptions().pairs_per_shard) options.pairs_per_shard = 3;
  const bool scores = options.has_scores;
  absl::StatusOr<std::unique_ptr<DatasetWriter>> writer = DatasetWriter::Open(dir, kShape, options);
  if (!writer.ok()) return writer.status();
  for (int64_t i = 0; i < train + heldout; ++i) {
    const int64_t id = 100 + i;
    const PairData p = MakePair(id);
    absl::Status status = (*writer)->Add(i < train ? "train" : "heldout", Record(p, id, true, scores));
    if (!status.ok()) return status;
  }
  return (*writer)->Finish();
}

void ExpectPairEquals(const PairBatch& batch, int64_t b, int64_t id) {
  const PairData p = MakePair(id);
  const auto row = [&](const std::vector<float>& v, size_t n) {
    return std::vector<float>(v.begin() + b * n, v.begin() + (b + 1) * n);
  };
  EXPECT_EQ(batch.pair_ids[b], id);
  EXPECT_EQ(row(batch.latents_w, p.latents_w.size()), p.latents_w) << "pair " << id;
  EXPECT_EQ(row(batch.latents_l, p.latents_l.size()), p.latents_l) << "pair " << id;
  EXPECT_EQ(row(batch.prompt_embeds, p.prompt.size()), p.prompt) << "pair " << id;
  EXPECT_EQ(row(batch.pooled_prompt_embeds, p.pooled.size()), p.pooled) << "pair " << id;
  EXPECT_EQ(row(batch.time_ids, p.time_ids.size()), p.time_ids) << "pair " << id;
  if (!batch.difficulty.empty()) EXPECT_EQ(batch.difficulty[b], p.difficulty);
}

// ---------------------------------------------------------------------------
// float16

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

TEST(Float16Test, KnownValues) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3C00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xC000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // rounds to infinity
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);             // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);             // tie to even: 0
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);             // tie to even: 2
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);             // smallest normal
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie, even stays
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie, odd rounds up
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  EXPECT_EQ(HalfToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0xFC00), -std::numeric_limits<float>::infinity());

  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3F80);
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);      // tie, even stays
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);  // tie, odd rounds up
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::nanf("")))));
}

TEST(Float16Test, EveryHalfRoundTrips) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), h) << std::hex << h;
    const uint16_t bf = static_cast<uint16_t>(h);
    const float g = BFloat16ToFloat(bf);
    if (!std::isnan(g)) ASSERT_EQ(FloatToBFloat16(g), bf) << std::hex << h;
  }
}

TEST(Float16Test, RoundsToNearest) {
  // Every float between two consecutive halves goes to the nearer one.
  for (uint16_t h = 0x3C00; h < 0x3C40; ++h) {
    const float lo = HalfToFloat(h), hi = HalfToFloat(h + 1);
    EXPECT_EQ(FloatToHalf(lo + (hi - lo) * 0.49f), h);
    EXPECT_EQ(FloatToHalf(lo + (hi - lo) * 0.51f), h + 1);
  }
  EXPECT_EQ(Bits(BFloat16ToFloat(FloatToBFloat16(3.14159f))), Bits(3.140625f));
}

// ---------------------------------------------------------------------------
// Writer and reader

TEST(DatasetTest, RoundTripF32) {
  TempDir dir;
  absl::StatusOr<Manifest> written = WriteDataset(dir.path(), 7, 2);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->splits.at("train").pairs, 7);
  ASSERT_EQ(written->splits.at("train").shards.size(), 3u);  // 3 + 3 + 1
  EXPECT_EQ(written->splits.at("train").shards[2].pairs, 1);
  EXPECT_EQ(written->splits.at("train").shards[0].file, "train-00000.safetensors");
  EXPECT_TRUE(fs::exists(dir.File("manifest.json")));

  absl::StatusOr<std::unique_ptr<PairReader>> reader = PairReader::Open(dir.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->num_pairs(), 7);
  EXPECT_EQ((*reader)->shape(), kShape);
  EXPECT_TRUE((*reader)->manifest().has_difficulty);

  const std::vector<int64_t> indices = {6, 0, 3, 3, 5, 1};
  absl::StatusOr<PairBatch> batch = (*reader)->Read(indices);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(batch->size, 6);
  EXPECT_EQ(batch->shape, kShape);
  EXPECT_EQ(batch->latents_w.size(), 6u * kShape.latent_numel());
  EXPECT_EQ(batch->prompt_embeds.size(), 6u * kShape.prompt_numel());
  EXPECT_EQ(batch->pooled_prompt_embeds.size(), 6u * kShape.pooled_dim);
  EXPECT_EQ(batch->time_ids.size(), 6u * kTimeIdsPerPair);
  EXPECT_TRUE(batch->score_w.empty());
  for (size_t b = 0; b < indices.size(); ++b) ExpectPairEquals(*batch, b, 100 + indices[b]);

  absl::StatusOr<std::vector<float>> difficulties = (*reader)->Difficulties();
  ASSERT_TRUE(difficulties.ok()) << difficulties.status();
  ASSERT_EQ(difficulties->size(), 7u);
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ((*difficulties)[i], MakePair(100 + i).difficulty);
  EXPECT_EQ((*reader)->PairIds(), (std::vector<int64_t>{100, 101, 102, 103, 104, 105, 106}));

  absl::StatusOr<std::unique_ptr<PairReader>> heldout = PairReader::Open(dir.path(), "heldout");
  ASSERT_TRUE(heldout.ok()) << heldout.status();
  EXPECT_EQ((*heldout)->num_pairs(), 2);
  absl::StatusOr<PairBatch> h = (*heldout)->Read({1, 0});
  ASSERT_TRUE(h.ok()) << h.status();
  ExpectPairEquals(*h, 0, 108);
  ExpectPairEquals(*h, 1, 107);

  absl::StatusOr<PairBatch> empty = (*reader)->Read({});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size, 0);
}

// A shard cut short or swapped while a job reads it: rows are read from the file, not the
// mapping, so this is an error naming the shard (with the mapping it was a SIGBUS).
TEST(DatasetTest, AShardTruncatedAfterOpenIsAnErrorNamingItNotACrash) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 7, 2).ok());
  absl::StatusOr<std::unique_ptr<PairReader>> reader = PairReader::Open(dir.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::string shard = dir.File("train-00001.safetensors");
  fs::resize_file(shard, fs::file_size(shard) / 2);

  ASSERT_TRUE((*reader)->Read({0, 1, 2}).ok());  // the first shard is whole
  absl::StatusOr<PairBatch> batch = (*reader)->Read({0, 4});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(batch.status().message(), HasSubstr("train-00001.safetensors"));
  EXPECT_THAT(batch.status().message(), HasSubstr("truncated"));
}

TEST(DatasetTest, AShardReplacedAfterOpenIsAnErrorNamingIt) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 7, 2).ok());
  absl::StatusOr<std::unique_ptr<PairReader>> reader = PairReader::Open(dir.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  const std::string shard = dir.File("train-00000.safetensors");
  fs::copy_file(shard, shard + ".new");
  fs::rename(shard + ".new", shard);

  absl::StatusOr<PairBatch> batch = (*reader)->Read({1});
  ASSERT_FALSE(batch.ok());
  EXPECT_EQ(batch.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(batch.status().message(), HasSubstr("train-00000.safetensors"));
  EXPECT_THAT(batch.status().message(), HasSubstr("replaced"));
}

TEST(DatasetTest, RoundTripHalfTypesAndScores) {
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    TempDir dir;
    WriterOptions options;
    options.float_dtype = dtype;
    options.has_scores = true;
    ASSERT_TRUE(WriteDataset(dir.path(), 4, 0, options).ok());
    auto file = safetensors::File::Open(dir.File("train-00000.safetensors"));
    ASSERT_TRUE(file.ok());
    EXPECT_EQ((*file)->Get("latents_w")->info->dtype, dtype);
    EXPECT_EQ((*file)->Get("pair_id")->info->dtype, DType::kI64);

    auto reader = PairReader::Open(dir.path(), "train");
    ASSERT_TRUE(reader.ok()) << reader.status();
    absl::StatusOr<PairBatch> batch = (*reader)->Read({0, 1, 2, 3});
    ASSERT_TRUE(batch.ok()) << batch.status();
    // The test values are exact in both half types.
    for (int64_t b = 0; b < 4; ++b) ExpectPairEquals(*batch, b, 100 + b);
    ASSERT_EQ(batch->score_w.size(), 4u);
    EXPECT_EQ(batch->score_w[2], MakePair(102).score_w);
    EXPECT_EQ(batch->score_l[3], MakePair(103).score_l);
  }
}

TEST(DatasetTest, EmptySplitsAreListed) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 2, 0).ok());
  auto heldout = PairReader::Open(dir.path(), "heldout");
  ASSERT_TRUE(heldout.ok()) << heldout.status();
  EXPECT_EQ((*heldout)->num_pairs(), 0);
}

TEST(DatasetTest, ZeroPooledDim) {
  TempDir dir;
  PairShape shape = kShape;
  shape.pooled_dim = 0;
  auto writer = DatasetWriter::Open(dir.path(), shape, {});
  ASSERT_TRUE(writer.ok()) << writer.status();
  const PairData p = MakePair(1, shape);
  ASSERT_TRUE((*writer)->Add("train", Record(p, 1, false)).ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  auto reader = PairReader::Open(dir.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::StatusOr<PairBatch> batch = (*reader)->Read({0});
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_TRUE(batch->pooled_prompt_embeds.empty());
  EXPECT_TRUE(batch->difficulty.empty());
  EXPECT_EQ(batch->latents_w, p.latents_w);
  EXPECT_EQ((*reader)->Difficulties().status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(DatasetTest, ManifestSerializationIsStable) {
  TempDir dir;
  absl::StatusOr<Manifest> written = WriteDataset(dir.path(), 5, 1);
  ASSERT_TRUE(written.ok());
  absl::StatusOr<std::string> text = ReadFileToString(dir.File("manifest.json"));
  ASSERT_TRUE(text.ok());
  absl::StatusOr<Manifest> parsed = ParseManifest(*text, "manifest.json");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(SerializeManifest(*parsed), *text);
}

TEST(DatasetWriterTest, RejectsBadPairs) {
  TempDir dir;
  WriterOptions options;
  options.has_difficulty = true;
  auto writer = DatasetWriter::Open(dir.path(), kShape, options);
  ASSERT_TRUE(writer.ok());
  PairData p = MakePair(5);
  ASSERT_TRUE((*writer)->Add("train", Record(p, 5)).ok());

  absl::Status duplicate = (*writer)->Add("heldout", Record(p, 5));
  EXPECT_THAT(duplicate.message(), HasSubstr("pair id 5"));

  PairData short_latents = MakePair(6);
  short_latents.latents_w.pop_back();
  absl::Status size = (*writer)->Add("train", Record(short_latents, 6));
  EXPECT_THAT(size.message(), HasSubstr("latents_w"));
  EXPECT_THAT(size.message(), HasSubstr("pair id 6"));

  PairData nan = MakePair(7);
  nan.prompt[3] = std::nanf("");
  absl::Status finite = (*writer)->Add("train", Record(nan, 7));
  EXPECT_THAT(finite.message(), HasSubstr("prompt_embeds"));
  EXPECT_THAT(finite.message(), HasSubstr("non-finite"));

  EXPECT_THAT((*writer)->Add("train", Record(MakePair(8), 8, /*difficulty=*/false)).message(),
              HasSubstr("difficulty"));
  EXPECT_THAT((*writer)->Add("train", Record(MakePair(9), 9, true, /*scores=*/true)).message(),
              HasSubstr("scores"));
  EXPECT_THAT((*writer)->Add("bad/split", Record(MakePair(10), 10)).message(), HasSubstr("split"));

  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ((*writer)->Add("train", Record(MakePair(11), 11)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE((*writer)->Finish().ok());
}

TEST(DatasetWriterTest, RejectsBadOptions) {
  TempDir dir;
  PairShape bad = kShape;
  bad.tokens = 0;
  EXPECT_FALSE(DatasetWriter::Open(dir.path(), bad, {}).ok());
  WriterOptions options;
  options.pairs_per_shard = 0;
  EXPECT_THAT(DatasetWriter::Open(dir.path(), kShape, options).status().message(),
              HasSubstr("pairs_per_shard"));
  options = {};
  options.float_dtype = DType::kI64;
  EXPECT_THAT(DatasetWriter::Open(dir.path(), kShape, options).status().message(), HasSubstr("float_dtype"));
}

TEST(DatasetWriterTest, RefusesToOverwriteUnlessAsked) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 7, 0).ok());  // 3 train shards
  absl::StatusOr<Manifest> again = WriteDataset(dir.path(), 2, 0);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);

  WriterOptions options;
  options.overwrite = true;
  ASSERT_TRUE(WriteDataset(dir.path(), 2, 0, options).ok());
  EXPECT_FALSE(fs::exists(dir.File("train-00001.safetensors")));  // stale shards removed
  auto reader = PairReader::Open(dir.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->num_pairs(), 2);
}

TEST(DatasetWriterTest, NoManifestWithoutFinish) {
  TempDir dir;
  {
    auto writer = DatasetWriter::Open(dir.path(), kShape, {});
    ASSERT_TRUE(writer.ok());
    for (int64_t i = 0; i < 300; ++i)
      ASSERT_TRUE((*writer)->Add("train", Record(MakePair(i), i, false)).ok());
  }
  EXPECT_TRUE(fs::exists(dir.File("train-00000.safetensors")));  // a full shard was flushed
  EXPECT_FALSE(fs::exists(dir.File("manifest.json")));
  EXPECT_EQ(PairReader::Open(dir.path(), "train").status().code(), absl::StatusCode::kNotFound);
}

// ---------------------------------------------------------------------------
// Reader validation: a valid dataset, then one thing broken at a time.

class DatasetValidationTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(WriteDataset(dir_.path(), 4, 1).ok()); }

  std::string Manifest() { return *ReadFileToString(dir_.File("manifest.json")); }
  void SetManifest(const std::string& text) {
    ASSERT_TRUE(WriteFileAtomically(dir_.File("manifest.json"), text).ok());
  }
  void EditManifest(const std::string& from, const std::string& to) {
    const std::string text = Manifest();
    ASSERT_NE(text.find(from), std::string::npos) << from;
    SetManifest(absl::StrReplaceAll(text, {{from, to}}));
  }

  // Rewrites train-00000 (3 pairs) with its tensors passed through `edit`.
  struct Tensor {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::string bytes;
  };
  void RewriteShard(const std::function<void(std::vector<Tensor>&)>& edit) {
    const std::string path = dir_.File("train-00000.safetensors");
    std::vector<Tensor> tensors;
    {
      auto file = safetensors::File::Open(path);
      ASSERT_TRUE(file.ok());
      for (const auto& info : (*file)->tensors()) {
        auto view = (*file)->Get(info.name);
        tensors.push_back({info.name, info.dtype, info.shape,
                           std::string(reinterpret_cast<const char*>(view->data), info.nbytes())});
      }
    }
    edit(tensors);
    safetensors::Writer writer;
    for (const Tensor& t : tensors)
      ASSERT_TRUE(writer.Add(t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()).ok());
    ASSERT_TRUE(writer.WriteFile(path).ok());
  }
  static Tensor* Find(std::vector<Tensor>& tensors, const std::string& name) {
    for (Tensor& t : tensors) {
      if (t.name == name) return &t;
    }
    return nullptr;
  }

  absl::Status OpenTrain() { return PairReader::Open(dir_.path(), "train").status(); }

  TempDir dir_;
};

TEST_F(DatasetValidationTest, ValidDatasetOpens) { EXPECT_TRUE(OpenTrain().ok()) << OpenTrain(); }

TEST_F(DatasetValidationTest, MissingManifest) {
  fs::remove(dir_.File("manifest.json"));
  EXPECT_THAT(OpenTrain().message(), HasSubstr("manifest.json"));
}

TEST_F(DatasetValidationTest, UnknownSplit) {
  absl::Status status = PairReader::Open(dir_.path(), "validation").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("validation"));
  EXPECT_THAT(status.message(), HasSubstr("heldout, train"));
}

TEST_F(DatasetValidationTest, ManifestNotJson) {
  SetManifest("{not json");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("not valid JSON"));
}

TEST_F(DatasetValidationTest, ManifestWrongFormat) {
  EditManifest("align-pairs/1", "align-pairs/2");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("format"));
}

TEST_F(DatasetValidationTest, ManifestUnknownField) {
  EditManifest("\"has_scores\"", "\"colour\": 1, \"has_scores\"");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("colour"));
}

TEST_F(DatasetValidationTest, ManifestBadShape) {
  EditManifest("\"tokens\": 5", "\"tokens\": 0");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("shape.tokens"));
  EditManifest("\"tokens\": 0", "\"tokens\": \"5\"");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("shape.tokens"));
}

TEST_F(DatasetValidationTest, ManifestSplitCountDisagreesWithShards) {
  EditManifest("\"pairs\": 4", "\"pairs\": 5");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("splits.train.pairs"));
}

TEST_F(DatasetValidationTest, ManifestFileEscapesDirectory) {
  EditManifest("\"train-00000.safetensors\"", "\"../train-00000.safetensors\"");
  EXPECT_THAT(OpenTrain().message(), HasSubstr("splits.train.shards[0].file"));
}

TEST_F(DatasetValidationTest, ShardPairCountDisagreesWithManifest) {
  // The first shard holds 3 pairs, the second 1: swap the counts.
  std::string text = Manifest();
  text = absl::StrReplaceAll(text, {{"\"file\": \"train-00000.safetensors\",\n          \"pairs\": 3",
                                     "\"file\": \"train-00000.safetensors\",\n          \"pairs\": 1"},
                                    {"\"file\": \"train-00001.safetensors\",\n          \"pairs\": 1",
                                     "\"file\": \"train-00001.safetensors\",\n          \"pairs\": 3"}});
  ASSERT_NE(text, Manifest());
  SetManifest(text);
  absl::Status status = OpenTrain();
  EXPECT_THAT(status.message(), HasSubstr("train-00000.safetensors"));
  EXPECT_THAT(status.message(), HasSubstr("latents_w"));
  EXPECT_THAT(status.message(), HasSubstr("manifest lists 1"));
}

TEST_F(DatasetValidationTest, MissingShardFile) {
  fs::remove(dir_.File("train-00001.safetensors"));
  EXPECT_THAT(OpenTrain().message(), HasSubstr("train-00001.safetensors"));
}

TEST_F(DatasetValidationTest, TruncatedShard) {
  fs::resize_file(dir_.File("train-00000.safetensors"), 100);
  EXPECT_THAT(OpenTrain().message(), HasSubstr("train-00000.safetensors"));
}

TEST_F(DatasetValidationTest, MissingTensor) {
  RewriteShard([](std::vector<Tensor>& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](const Tensor& x) { return x.name == "time_ids"; }),
            t.end());
  });
  absl::Status status = OpenTrain();
  EXPECT_THAT(status.message(), HasSubstr("train-00000.safetensors"));
  EXPECT_THAT(status.message(), HasSubstr("missing tensor \"time_ids\""));
}

TEST_F(DatasetValidationTest, MissingDifficulty) {
  RewriteShard([](std::vector<Tensor>& t) {
    t.erase(std::remove_if(t.begin(), t.end(), [](const Tensor& x) { return x.name == "difficulty"; }),
            t.end());
  });
  EXPECT_THAT(OpenTrain().message(), HasSubstr("difficulty"));
}

TEST_F(DatasetValidationTest, WrongShape) {
  RewriteShard([](std::vector<Tensor>& t) { Find(t, "latents_l")->shape = {3, 2, 4, 3}; });
  absl::Status status = OpenTrain();
  EXPECT_THAT(status.message(), HasSubstr("train-00000.safetensors"));
  EXPECT_THAT(status.message(), HasSubstr("latents_l"));
  EXPECT_THAT(status.message(), HasSubstr("[3, 2, 3, 4]"));
}

TEST_F(DatasetValidationTest, WrongDType) {
  RewriteShard([](std::vector<Tensor>& t) {
    Tensor* ids = Find(t, "pair_id");
    ids->dtype = DType::kF32;
    ids->bytes.resize(ids->bytes.size() / 2);
  });
  absl::Status status = OpenTrain();
  EXPECT_THAT(status.message(), HasSubstr("pair_id"));
  EXPECT_THAT(status.message(), HasSubstr("I64"));
}

TEST_F(DatasetValidationTest, UnexpectedTensor) {
  RewriteShard([](std::vector<Tensor>& t) {
    t.push_back({"latent_w", DType::kF32, {1}, std::string(4, '\0')});
  });
  EXPECT_THAT(OpenTrain().message(), HasSubstr("unexpected tensor \"latent_w\""));
}

TEST_F(DatasetValidationTest, RepeatedPairId) {
  RewriteShard([](std::vector<Tensor>& t) {
    Tensor* ids = Find(t, "pair_id");
    const int64_t id = 103;  // the id of train pair 3, in the next shard
    std::memcpy(ids->bytes.data(), &id, sizeof id);
  });
  EXPECT_THAT(OpenTrain().message(), HasSubstr("pair_id 103 repeats"));
}

TEST_F(DatasetValidationTest, NonFiniteValueNamesThePair) {
  RewriteShard([](std::vector<Tensor>& t) {
    Tensor* latents = Find(t, "latents_l");
    const float inf = std::numeric_limits<float>::infinity();
    // Pair 1 of the shard (id 101), element 5.
    std::memcpy(latents->bytes.data() + (kShape.latent_numel() + 5) * sizeof(float), &inf, sizeof inf);
  });
  auto reader = PairReader::Open(dir_.path(), "train");
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE((*reader)->Read({0, 2, 3}).ok());
  absl::Status status = (*reader)->Read({0, 1}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr("train-00000.safetensors"));
  EXPECT_THAT(status.message(), HasSubstr("latents_l"));
  EXPECT_THAT(status.message(), HasSubstr("pair id 101"));
}

TEST_F(DatasetValidationTest, IndexOutOfRange) {
  auto reader = PairReader::Open(dir_.path(), "train");
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->Read({4}).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ((*reader)->Read({-1}).status().code(), absl::StatusCode::kOutOfRange);
}

// ---------------------------------------------------------------------------
// Concurrency

std::shared_ptr<const PairReader> OpenShared(const std::string& dir) {
  auto reader = PairReader::Open(dir, "train");
  EXPECT_TRUE(reader.ok()) << reader.status();
  return reader.ok() ? std::shared_ptr<const PairReader>(std::move(*reader)) : nullptr;
}

TEST(PairReaderTest, ConcurrentReads) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 40, 0).ok());
  std::shared_ptr<const PairReader> reader = OpenShared(dir.path());
  ASSERT_NE(reader, nullptr);
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 50; ++round) {
        const int64_t i = (t * 7 + round * 3) % 40;
        absl::StatusOr<PairBatch> batch = reader->Read({i});
        if (!batch.ok() || batch->pair_ids[0] != 100 + i ||
            batch->latents_w[0] != MakePair(100 + i).latents_w[0]) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
}

TEST(PrefetchingReaderTest, PreservesOrder) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 40, 0).ok());
  std::shared_ptr<const PairReader> reader = OpenShared(dir.path());
  ASSERT_NE(reader, nullptr);
  for (size_t threads : {1, 3}) {
    PrefetchingReader prefetch(reader, /*depth=*/2, threads);
    std::vector<std::vector<int64_t>> requests;
    for (int64_t b = 0; b < 30; ++b) {
      // Varying sizes, so that later batches can finish before earlier ones.
      std::vector<int64_t> indices;
      for (int64_t k = 0; k < 1 + (b * 5) % 7; ++k) indices.push_back((b * 11 + k * 3) % 40);
      requests.push_back(indices);
      prefetch.Enqueue(indices);
    }
    EXPECT_EQ(prefetch.pending(), 30u);
    for (const std::vector<int64_t>& indices : requests) {
      absl::StatusOr<PairBatch> batch = prefetch.Next();
      ASSERT_TRUE(batch.ok()) << batch.status();
      ASSERT_EQ(batch->size, static_cast<int64_t>(indices.size()));
      for (size_t b = 0; b < indices.size(); ++b) EXPECT_EQ(batch->pair_ids[b], 100 + indices[b]);
    }
    EXPECT_EQ(prefetch.pending(), 0u);
    EXPECT_EQ(prefetch.Next().status().code(), absl::StatusCode::kFailedPrecondition);
  }
}

TEST(PrefetchingReaderTest, InterleavedEnqueueAndNext) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 10, 0).ok());
  std::shared_ptr<const PairReader> reader = OpenShared(dir.path());
  ASSERT_NE(reader, nullptr);
  PrefetchingReader prefetch(reader, 3);
  prefetch.Enqueue({0});
  prefetch.Enqueue({1});
  for (int64_t step = 0; step < 20; ++step) {
    prefetch.Enqueue({(step + 2) % 10});
    absl::StatusOr<PairBatch> batch = prefetch.Next();
    ASSERT_TRUE(batch.ok());
    EXPECT_EQ(batch->pair_ids[0], 100 + step % 10);
  }
}

TEST(PrefetchingReaderTest, ErrorsArriveInOrder) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 5, 0).ok());
  std::shared_ptr<const PairReader> reader = OpenShared(dir.path());
  ASSERT_NE(reader, nullptr);
  PrefetchingReader prefetch(reader, 4, 2);
  prefetch.Enqueue({0});
  prefetch.Enqueue({99});
  prefetch.Enqueue({4});
  EXPECT_TRUE(prefetch.Next().ok());
  EXPECT_EQ(prefetch.Next().status().code(), absl::StatusCode::kOutOfRange);
  absl::StatusOr<PairBatch> last = prefetch.Next();
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->pair_ids[0], 104);
}

TEST(PrefetchingReaderTest, ShutsDownWithPendingRequests) {
  TempDir dir;
  ASSERT_TRUE(WriteDataset(dir.path(), 40, 0).ok());
  std::shared_ptr<const PairReader> reader = OpenShared(dir.path());
  ASSERT_NE(reader, nullptr);
  for (int round = 0; round < 20; ++round) {
    PrefetchingReader prefetch(reader, 2, 2);
    std::vector<int64_t> all(40);
    for (int64_t i = 0; i < 40; ++i) all[i] = i;
    for (int b = 0; b < 100; ++b) prefetch.Enqueue(all);
    if (round % 2 == 0) ASSERT_TRUE(prefetch.Next().ok());
  }                                       // each destructor returns with most requests unread
  { PrefetchingReader idle(reader, 1); }  // and with none at all
}

}  // namespace
}  // namespace align::data
