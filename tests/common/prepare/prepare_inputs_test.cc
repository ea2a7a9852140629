// The torch-free half of `prepare`: UTF-8 repair, JSONL and WebDataset (tar)
// inputs with ties, swaps, missing and corrupt items counted, the work split,
// per-pair conditioning (time_ids, crops, flips, swaps), chunk sources,
// records and the report.

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/imaging/transforms.h"
#include "common/prepare/chunk_prefetch.h"
#include "common/prepare/chunk_record.h"
#include "common/prepare/chunk_source.h"
#include "common/prepare/input_index.h"
#include "common/prepare/jsonl_input.h"
#include "common/prepare/pair_conditioning.h"
#include "common/prepare/prepare_report.h"
#include "common/prepare/utf8_repair.h"
#include "common/prepare/webdataset_input.h"
#include "common/prepare/work_split.h"
#include "gmock/gmock.h"
#include "tests/support/image_encode.h"
#include "tests/support/tar_write.h"
#include "tests/support/test_pairs.h"
#include "tests/support/temp_dir.h"

namespace align::prepare {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

using align::testing::TempDir;

testing::TestPairsOptions Pairs(int items, bool webdataset, int samples_per_shard, bool faults) {
  testing::TestPairsOptions options;
  options.items = items;
  options.webdataset = webdataset;
  options.samples_per_shard = samples_per_shard;
  options.faults = faults;
  return options;
}

std::map<std::string, int> CountReasons(const std::vector<ItemProblem>& problems) {
  std::map<std::string, int> out;
  for (const ItemProblem& p : problems) ++out[p.reason];
  return out;
}

TEST(Utf8RepairTest, ReplacesMaximalInvalidSubsequences) {
  std::string out;
  EXPECT_EQ(RepairUtf8("caf\xC3\xA9 \xF0\x9F\x90\xB6", &out), 0);
  EXPECT_EQ(out, "caf\xC3\xA9 \xF0\x9F\x90\xB6");
  EXPECT_EQ(RepairUtf8("a\xFF" "b", &out), 1);
  EXPECT_EQ(out, "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(RepairUtf8("\xE2\x82", &out), 1);  // truncated 3-byte sequence: one replacement
  EXPECT_EQ(out, "\xEF\xBF\xBD");
  EXPECT_EQ(RepairUtf8("\xED\xA0\x80", &out), 3);  // a surrogate: three, as Python
}

TEST(InputIndexTest, LabelsFollowTheReference) {
  EXPECT_EQ(ClassifyLabel(1.0), Label::kFirst);
  EXPECT_EQ(ClassifyLabel(0.0), Label::kSecond);
  EXPECT_EQ(ClassifyLabel(0.5), Label::kTie);
  EXPECT_EQ(ClassifyLabel(0.3), Label::kInvalid);
  EXPECT_EQ(ClassifyLabel(2.0), Label::kInvalid);
}

TEST(JsonlInputTest, IndexesCountsTiesSwapsAndMalformedLines) {
  TempDir dir;
  const testing::TestPairsCounts counts = testing::WriteTestPairs(dir.path(), Pairs(60, false, 16, true));
  absl::StatusOr<InputIndex> index = IndexJsonl(counts.input);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->total, counts.total);
  EXPECT_EQ(index->ties, counts.ties);
  EXPECT_EQ(index->swapped, counts.swapped);
  EXPECT_EQ(static_cast<int64_t>(index->rejected.size()), counts.malformed);
  EXPECT_EQ(static_cast<int64_t>(index->items.size()), counts.total - counts.ties - counts.malformed);
  for (const ItemProblem& p : index->rejected) {
    EXPECT_EQ(p.reason, reason::kMissingField);
    EXPECT_THAT(p.where, HasSubstr("pairs.jsonl:"));
  }
  EXPECT_GT(index->repaired_captions, 0);
  // Ids count items (not lines: blank lines are skipped); paths are resolved
  // against the JSONL file's directory.
  for (size_t i = 1; i < index->items.size(); ++i) EXPECT_GT(index->items[i].id, index->items[i - 1].id);
  EXPECT_EQ(index->items[0].image_0, dir.path() + "/images/000000_0.jpg");
}

TEST(JsonlInputTest, RejectsBadFieldsWithReasons) {
  TempDir dir;
  const std::string path = dir.path() + "/p.jsonl";
  std::ofstream(path) << "{\"caption\": 3, \"image_0\": \"a\", \"image_1\": \"b\", \"label_0\": 1}\n"
                      << "not json\n"
                      << "{\"caption\": \"x\", \"image_0\": \"a\", \"image_1\": \"b\", \"label_0\": 0.7}\n"
                      << "{\"caption\": \"x\", \"image_0\": \"a\", \"label_0\": 1}\n"
                      << "[1, 2]\n"
                      << "{\"caption\": \"x\", \"image_0\": \"/abs/a.jpg\", \"image_1\": \"b\", \"label_0\": 0}\n";
  absl::StatusOr<InputIndex> index = IndexJsonl(path);
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_EQ(index->rejected.size(), 5u);
  EXPECT_EQ(index->rejected[0].reason, reason::kBadField);
  EXPECT_EQ(index->rejected[1].reason, reason::kBadJson);
  EXPECT_EQ(index->rejected[2].reason, reason::kBadLabel);
  EXPECT_EQ(index->rejected[3].reason, reason::kMissingField);
  EXPECT_EQ(index->rejected[4].reason, reason::kBadJson);
  EXPECT_EQ(index->rejected[2].where, "p.jsonl:3");
  ASSERT_EQ(index->items.size(), 1u);
  EXPECT_TRUE(index->items[0].swap);
  EXPECT_EQ(index->items[0].image_0, "/abs/a.jpg");
  EXPECT_FALSE(IndexJsonl(dir.path() + "/none.jsonl").ok());
}

TEST(TarReaderTest, GroupsMembersIntoSamplesAndLoadsOnlyWhatIsAsked) {
  TempDir dir;
  const std::string path = dir.path() + "/s.tar";
  ASSERT_TRUE(testing::WriteTar(path, {{"a.jpg_0", "A0"}, {"a.jpg_1", "A1"}, {"a.json", "{}"},
                                       {"sub/b.c.jpg_0", "B0"}, {"sub/b.c.json", "{}"}, {"a.json", "again"}}));
  std::string key, ext;
  SplitMemberName("sub/b.c.jpg_0", &key, &ext);
  EXPECT_EQ(key, "sub/b");
  EXPECT_EQ(ext, "c.jpg_0");

  auto reader = WebDatasetReader::Open(path, [](int64_t position, const std::string& e) {
    return position == 0 && e == "jpg_1";
  });
  ASSERT_TRUE(reader.ok()) << reader.status();
  Sample s;
  ASSERT_TRUE(*(*reader)->Next(&s));
  EXPECT_EQ(s.key, "a");
  EXPECT_EQ(s.position, 0);
  EXPECT_EQ(s.extensions, (std::set<std::string>{"jpg_0", "jpg_1", "json"}));
  ASSERT_EQ(s.data.size(), 1u);
  EXPECT_EQ(s.data["jpg_1"], "A1");
  ASSERT_TRUE(*(*reader)->Next(&s));
  EXPECT_EQ(s.key, "sub/b");
  EXPECT_TRUE(s.data.empty());
  ASSERT_TRUE(*(*reader)->Next(&s));  // a key seen again later is a new sample
  EXPECT_EQ(s.key, "a");
  EXPECT_EQ(s.position, 2);
  EXPECT_FALSE(*(*reader)->Next(&s));
}

TEST(WebDatasetInputTest, IndexesShardsWithCounts) {
  TempDir dir;
  const testing::TestPairsCounts counts =
      testing::WriteTestPairs(dir.path(), Pairs(50, true, 16, true));
  absl::StatusOr<std::vector<std::string>> shards = ResolveShards(dir.path());
  ASSERT_TRUE(shards.ok());
  EXPECT_EQ(shards->size(), 4u);
  EXPECT_EQ(ResolveShards(dir.path() + "/shard-0000[01].tar")->size(), 2u);
  EXPECT_FALSE(ResolveShards(dir.path() + "/nothing-*.tar").ok());

  absl::StatusOr<InputIndex> index = IndexWebDataset(dir.path());
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ(index->total, counts.total);
  EXPECT_EQ(index->ties, counts.ties);
  EXPECT_EQ(index->swapped, counts.swapped);
  // Missing members are known from the headers; corrupt images only when decoded.
  const auto reasons = CountReasons(index->rejected);
  EXPECT_EQ(reasons.count(reason::kMissingImage) ? reasons.at(reason::kMissingImage) : 0, counts.missing);
  EXPECT_EQ(reasons.count(reason::kBadJson) ? reasons.at(reason::kBadJson) : 0, counts.malformed);
  EXPECT_EQ(static_cast<int64_t>(index->items.size()),
            counts.total - counts.ties - counts.missing - counts.malformed);
  EXPECT_EQ(index->items[1].where, "shard-00000.tar:000001");
  EXPECT_EQ(index->items.back().source, 3);
}

TEST(WebDatasetInputTest, ACorruptShardIsOneFailureAndTheRestIsKept) {
  TempDir dir;
  const testing::TestPairsCounts counts =
      testing::WriteTestPairs(dir.path(), Pairs(32, true, 16, false));
  const std::string second = dir.path() + "/shard-00001.tar";
  fs::resize_file(second, fs::file_size(second) / 2 + 100);  // cut mid-member
  absl::StatusOr<InputIndex> index = IndexWebDataset(dir.path());
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_EQ(index->rejected.size(), 1u);
  EXPECT_EQ(index->rejected[0].reason, reason::kCorruptArchive);
  EXPECT_EQ(index->rejected[0].where, "shard-00001.tar");
  EXPECT_GE(index->items.size(), 16u);  // the first shard whole, part of the second
  EXPECT_LT(static_cast<int64_t>(index->items.size()), counts.total);
}

TEST(WorkSplitTest, ChunksCoverEveryItemOnceAndHeldoutIsExact) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 103; ++i) ids.push_back(i * 3 + 1);
  const WorkPlan plan = PlanWork(ids, {0, 10}, 16, 7);
  EXPECT_EQ(plan.heldout_items, 10);
  EXPECT_EQ(plan.train_items, 93);
  std::set<int64_t> seen;
  int train_chunks = 0;
  for (const WorkChunk& c : plan.chunks) {
    EXPECT_LE(c.items.size(), 16u);
    for (int64_t i : c.items) EXPECT_TRUE(seen.insert(i).second);
    if (c.split == "train") EXPECT_EQ(c.index, train_chunks++);
  }
  EXPECT_EQ(seen.size(), ids.size());
  EXPECT_EQ(train_chunks, 6);  // ceil(93 / 16)
  EXPECT_EQ(plan.chunks[0].ShardFile(), "train-00000.safetensors");
  EXPECT_EQ(plan.chunks.back().ShardFile(), "heldout-00000.safetensors");

  // Same inputs, same plan; the seed changes the held-out choice.
  const WorkPlan again = PlanWork(ids, {0, 10}, 16, 7);
  EXPECT_EQ(again.chunks.back().items, plan.chunks.back().items);
  EXPECT_NE(PlanWork(ids, {0, 10}, 16, 8).chunks.back().items, plan.chunks.back().items);
  EXPECT_EQ(PlanWork(ids, {0.1, 0}, 16, 7).heldout_items, 10);  // round(10.3)
  EXPECT_EQ(PlanWork(ids, {}, 16, 7).heldout_items, 0);
  EXPECT_EQ(PlanWork({}, {0, 5}, 16, 7).chunks.size(), 0u);
}

TEST(WorkSplitTest, PartsAreContiguousBalancedAndDisjoint) {
  for (size_t n : {0, 1, 5, 7, 64}) {
    for (int parts : {1, 2, 3, 8}) {
      std::vector<size_t> all;
      for (int p = 0; p < parts; ++p) {
        const std::vector<size_t> mine = ChunksOfPart(n, p, parts);
        EXPECT_LE(mine.size(), n / parts + 1);
        for (size_t k = 1; k < mine.size(); ++k) EXPECT_EQ(mine[k], mine[k - 1] + 1);
        all.insert(all.end(), mine.begin(), mine.end());
      }
      ASSERT_EQ(all.size(), n);
      for (size_t k = 0; k < n; ++k) EXPECT_EQ(all[k], k);
    }
  }
}

imaging::RgbImage Picture(int w, int h, uint64_t seed) { return testing::TestPicture(w, h, seed); }

TEST(PairConditioningTest, TimeIdsAreOriginalSizeCropAndTarget) {
  ConditioningOptions options;
  options.resolution = 32;
  // Landscape 53x37: resized to 45x32 (int(32 * 53 / 37) = 45), center crop left round(6.5) = 6.
  ConditionedPair p = ConditionPair(Picture(53, 37, 1), Picture(53, 37, 2), false, 0, options);
  EXPECT_EQ(p.time_ids, (std::array<float, 6>{37, 53, 0, 6, 32, 32}));
  EXPECT_EQ(p.pixels_w.size(), 3u * 32 * 32);
  // Portrait 40x70: 32x56, crop top round(12.0) = 12.
  p = ConditionPair(Picture(40, 70, 1), Picture(40, 70, 2), false, 0, options);
  EXPECT_EQ(p.time_ids, (std::array<float, 6>{70, 40, 12, 0, 32, 32}));
  // The pixels are the reference chain's.
  const imaging::RgbImage resized = imaging::ResizeShorterSide(Picture(40, 70, 1), 32);
  EXPECT_EQ(p.pixels_w, imaging::ToNormalizedChw(imaging::Crop(resized, 12, 0, 32, 32)));
}

TEST(PairConditioningTest, ConstantMicroConditioningIgnoresSizeAndCrop) {
  ConditioningOptions options;
  options.resolution = 32;
  options.constant_time_ids = true;
  const ConditionedPair p = ConditionPair(Picture(53, 37, 1), Picture(53, 37, 2), false, 0, options);
  EXPECT_EQ(p.time_ids, (std::array<float, 6>{32, 32, 0, 0, 32, 32}));
  // The pixels are those of the per-image run: only the time ids change.
  options.constant_time_ids = false;
  EXPECT_EQ(p.pixels_w, ConditionPair(Picture(53, 37, 1), Picture(53, 37, 2), false, 0, options).pixels_w);
}

TEST(PairConditioningTest, SwapPutsThePreferredImageFirst) {
  ConditioningOptions options;
  options.resolution = 24;
  const ConditionedPair kept = ConditionPair(Picture(30, 24, 1), Picture(30, 24, 2), false, 3, options);
  const ConditionedPair swapped = ConditionPair(Picture(30, 24, 1), Picture(30, 24, 2), true, 3, options);
  EXPECT_EQ(kept.pixels_w, swapped.pixels_l);
  EXPECT_EQ(kept.pixels_l, swapped.pixels_w);
  EXPECT_EQ(kept.time_ids, swapped.time_ids);
}

TEST(PairConditioningTest, SecondImageOfAnotherSizeFollowsTheFirst) {
  ConditioningOptions options;
  options.resolution = 24;
  const ConditionedPair p = ConditionPair(Picture(30, 24, 1), Picture(61, 40, 2), false, 3, options);
  EXPECT_EQ(p.time_ids[0], 24);
  EXPECT_EQ(p.time_ids[1], 30);
  const imaging::RgbImage second =
      imaging::Resize(Picture(61, 40, 2), 30, 24, imaging::ResampleFilter::kBicubic);
  EXPECT_EQ(p.pixels_l, imaging::ToNormalizedChw(imaging::Crop(second, 0, 3, 24, 24)));
}

TEST(PairConditioningTest, FlipsBothImagesTogetherAndDeterministically) {
  ConditioningOptions options;
  options.resolution = 24;
  options.random_flip = true;
  int flipped = 0;
  for (int64_t id = 0; id < 64; ++id) {
    const ConditionedPair p = ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, id, options);
    EXPECT_EQ(ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, id, options).pixels_w, p.pixels_w);
    const auto expect = [&](const imaging::RgbImage& image, const std::vector<float>& got) {
      EXPECT_EQ(got, imaging::ToNormalizedChw(p.flipped ? imaging::FlipHorizontal(image) : image));
    };
    expect(Picture(24, 24, 1), p.pixels_w);
    expect(Picture(24, 24, 2), p.pixels_l);
    flipped += p.flipped;
  }
  EXPECT_GT(flipped, 16);
  EXPECT_LT(flipped, 48);
  options.random_flip = false;
  EXPECT_FALSE(ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, 5, options).flipped);
}

TEST(PairConditioningTest, RandomCropsStayInsideAndAreRecorded) {
  ConditioningOptions options;
  options.resolution = 16;
  options.center_crop = false;
  std::set<int> lefts;
  for (int64_t id = 0; id < 50; ++id) {
    const ConditionedPair p = ConditionPair(Picture(40, 20, 1), Picture(40, 20, 2), false, id, options);
    // 40x20 -> 32x16: left in [0, 16], top 0.
    EXPECT_EQ(p.crop_top, 0);
    EXPECT_GE(p.crop_left, 0);
    EXPECT_LE(p.crop_left, 16);
    EXPECT_EQ(p.time_ids[3], p.crop_left);
    lefts.insert(p.crop_left);
    const imaging::RgbImage resized = imaging::ResizeShorterSide(Picture(40, 20, 1), 16);
    EXPECT_EQ(p.pixels_w, imaging::ToNormalizedChw(imaging::Crop(resized, 0, p.crop_left, 16, 16)));
  }
  EXPECT_GT(lefts.size(), 5u);
}

TEST(PairConditioningTest, FlipImagesEachFlipsEachImageOnItsOwn) {
  ConditioningOptions options;
  options.resolution = 24;
  options.random_flip = true;
  options.flip_images = data::FlipImages::kEach;
  int agree = 0, flipped_w = 0, flipped_l = 0;
  for (int64_t id = 0; id < 400; ++id) {
    const ConditionedPair p = ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, id, options);
    const ConditionedPair again = ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, id, options);
    EXPECT_EQ(again.pixels_w, p.pixels_w);
    EXPECT_EQ(again.pixels_l, p.pixels_l);
    EXPECT_EQ(p.pixels_w, imaging::ToNormalizedChw(p.flipped ? imaging::FlipHorizontal(Picture(24, 24, 1))
                                                             : Picture(24, 24, 1)));
    EXPECT_EQ(p.pixels_l, imaging::ToNormalizedChw(p.flipped_l ? imaging::FlipHorizontal(Picture(24, 24, 2))
                                                               : Picture(24, 24, 2)));
    agree += p.flipped == p.flipped_l;
    flipped_w += p.flipped;
    flipped_l += p.flipped_l;
    // w's flip is the one together draws, so a dataset's other draws stay put.
    ConditioningOptions together = options;
    together.flip_images = data::FlipImages::kTogether;
    EXPECT_EQ(ConditionPair(Picture(24, 24, 1), Picture(24, 24, 2), false, id, together).flipped, p.flipped);
  }
  EXPECT_GT(agree, 160);
  EXPECT_LT(agree, 240);
  EXPECT_GT(flipped_w, 160);
  EXPECT_GT(flipped_l, 160);
}

TEST(PairConditioningTest, CropVariantsAreFurtherRandomCropsWithTheirTimeIds) {
  ConditioningOptions options;
  options.resolution = 16;
  options.center_crop = false;
  options.flipped_variant = true;
  const imaging::RgbImage resized_w = imaging::ResizeShorterSide(Picture(40, 30, 1), 16);
  const imaging::RgbImage resized_l = imaging::ResizeShorterSide(Picture(40, 30, 2), 16);
  std::set<std::pair<int, int>> crops;
  for (int64_t id = 0; id < 20; ++id) {
    options.crop_variants = 1;
    const ConditionedPair one = ConditionPair(Picture(40, 30, 1), Picture(40, 30, 2), false, id, options);
    EXPECT_TRUE(one.more_crops.empty());
    options.crop_variants = 4;
    const ConditionedPair p = ConditionPair(Picture(40, 30, 1), Picture(40, 30, 2), false, id, options);
    // Crop 0 is the crop a single-crop dataset has.
    EXPECT_EQ(p.crop_left, one.crop_left);
    EXPECT_EQ(p.crop_top, one.crop_top);
    EXPECT_EQ(p.pixels_w, one.pixels_w);
    ASSERT_EQ(p.more_crops.size(), 3u);
    for (const CroppedPair& crop : p.more_crops) {
      // 40x30 -> 21x16: top 0, left in [0, 5]; the same cut of both images.
      EXPECT_EQ(crop.crop_top, 0);
      EXPECT_LE(crop.crop_left, 5);
      EXPECT_EQ(crop.time_ids, (std::array<float, 6>{30, 40, 0, static_cast<float>(crop.crop_left), 16, 16}));
      EXPECT_EQ(crop.pixels_w, imaging::ToNormalizedChw(imaging::Crop(resized_w, 0, crop.crop_left, 16, 16)));
      EXPECT_EQ(crop.pixels_l, imaging::ToNormalizedChw(imaging::Crop(resized_l, 0, crop.crop_left, 16, 16)));
      EXPECT_EQ(crop.pixels_w_flipped, imaging::ToNormalizedChw(imaging::Crop(
                                           imaging::FlipHorizontal(resized_w), 0, crop.crop_left, 16, 16)));
      crops.insert({crop.crop_top, crop.crop_left});
    }
  }
  EXPECT_EQ(crops.size(), 6u);  // every offset turns up
}

TEST(ChunkSourceTest, ReportsMissingAndCorruptImagesPerItem) {
  for (bool webdataset : {false, true}) {
    TempDir dir;
    const testing::TestPairsCounts counts =
        testing::WriteTestPairs(dir.path(), Pairs(40, webdataset, 8, true));
    PrepareSpec spec;
    spec.input = counts.input;
    spec.format = webdataset ? PrepareFormat::kWebDataset : PrepareFormat::kJsonl;
    absl::StatusOr<InputIndex> index = BuildInputIndex(spec);
    ASSERT_TRUE(index.ok()) << index.status();
    std::vector<int64_t> ids;
    for (const PairItem& item : index->items) ids.push_back(item.id);
    const WorkPlan plan = PlanWork(ids, {0, 4}, 7, 1);
    ConditioningOptions options;
    options.resolution = 32;
    int ok = 0;
    std::vector<ItemProblem> problems = index->rejected;
    for (const WorkChunk& chunk : plan.chunks) {
      PrefetchingChunkSource source(*index, chunk, options, 3);
      PreparedItem item;
      size_t n = 0;
      while (source.Next(&item)) {
        EXPECT_EQ(item.item, &index->items[chunk.items[n++]]);  // in chunk order
        if (item.ok) {
          ++ok;
          EXPECT_EQ(item.pair.pixels_w.size(), 3u * 32 * 32);
        } else {
          problems.push_back(item.problem);
        }
      }
      EXPECT_EQ(n, chunk.items.size());
    }
    EXPECT_EQ(ok, counts.pairs) << "webdataset " << webdataset;
    EXPECT_EQ(static_cast<int64_t>(problems.size()), counts.failed);
    const auto reasons = CountReasons(problems);
    EXPECT_EQ(reasons.at(reason::kCorruptImage), counts.corrupt);
    EXPECT_EQ(reasons.at(reason::kMissingImage), counts.missing);
  }
}

TEST(ChunkRecordTest, RoundTripsAndRejectsMismatches) {
  TempDir dir;
  ChunkRecord record;
  record.split = "train";
  record.index = 3;
  record.items = 2;
  record.pairs = 1;
  record.shard = "train-00003.safetensors";
  record.problems = {{17, "p.jsonl:18", reason::kCorruptImage, "bad \xFF bytes"}};
  record.captions_truncated = 1;
  ASSERT_TRUE(WriteChunkRecord(dir.path(), record).ok());
  WorkChunk chunk;
  chunk.split = "train";
  chunk.index = 3;
  chunk.items = {5, 6};
  std::optional<ChunkRecord> back = ReadChunkRecord(dir.path(), chunk);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->pairs, 1);
  EXPECT_EQ(back->shard, record.shard);
  ASSERT_EQ(back->problems.size(), 1u);
  EXPECT_EQ(back->problems[0].where, "p.jsonl:18");
  chunk.items = {5};  // another plan: not this chunk's record
  EXPECT_FALSE(ReadChunkRecord(dir.path(), chunk).has_value());
  chunk.index = 4;
  EXPECT_FALSE(ReadChunkRecord(dir.path(), chunk).has_value());
}

TEST(PrepareReportTest, ErrorRatioExcludesTiesAndTheMessageListsFailures) {
  InputIndex index;
  index.total = 100;
  index.ties = 20;
  index.swapped = 30;
  index.rejected = {{4, "p.jsonl:5", reason::kMissingField, "no \"label_0\""}};
  ChunkRecord a{"train", 0, 40, 38, "train-00000.safetensors", {{9, "p.jsonl:10", reason::kCorruptImage, "x"}}, 2};
  ChunkRecord b{"heldout", 0, 39, 38, "heldout-00000.safetensors", {{12, "p.jsonl:13", reason::kMissingImage, "y"}}};
  PrepareReport report = BuildReport(index, {a, b}, 0.05);
  EXPECT_EQ(report.failed, 3);
  EXPECT_DOUBLE_EQ(report.error_ratio, 3.0 / 80.0);
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.pairs.at("train"), 38);
  EXPECT_EQ(report.pairs_written(), 76);
  EXPECT_EQ(report.captions_truncated, 2);
  EXPECT_EQ(ReportToJson(report)["failed_by_reason"]["corrupt_image"], 1);

  report = BuildReport(index, {a, b}, 0.02);
  EXPECT_FALSE(report.ok());
  const std::string message = FailureMessage(report, 2);
  EXPECT_THAT(message, HasSubstr("3 of 80 items failed"));
  EXPECT_THAT(message, HasSubstr("1 corrupt_image"));
  EXPECT_THAT(message, HasSubstr("p.jsonl:5 (missing_field)"));
  EXPECT_THAT(message, HasSubstr("p.jsonl:10 (corrupt_image)"));
  EXPECT_THAT(message, ::testing::Not(HasSubstr("p.jsonl:13")));  // only the first 2
}

}  // namespace
}  // namespace align::prepare
