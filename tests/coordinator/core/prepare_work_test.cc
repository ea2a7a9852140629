// The coordinator's side of a prepare job (coordinator/core/prepare_work.h):
// the same plan as the ranks compute, the split of unfinished chunks over
// ranks, resumption from existing records, checked chunk reports, and the
// report + manifest written from the records alone (or a failure naming the
// items when too many failed).

#include "coordinator/core/prepare_work.h"

#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/dataset/manifest.h"
#include "common/prepare/prepare_report.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/finished_chunk.h"

namespace align::coordinator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const data::PairShape kShape{4, 4, 4, 3, 8, 6};

class PrepareWorkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "prepare_work_test_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    // 22 lines: 20 usable items and 2 ties; images are only read by ranks.
    std::ofstream jsonl(dir_ + "/pairs.jsonl");
    for (int i = 0; i < 22; ++i) {
      const double label = (i == 5 || i == 11) ? 0.5 : (i % 3 == 0 ? 0.0 : 1.0);
      jsonl << "{\"caption\": \"item " << i << "\", \"image_0\": \"a" << i << ".jpg\", \"image_1\": \"b" << i
            << ".jpg\", \"label_0\": " << label << "}\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  JobSpec Spec(double max_error_ratio = 0.05) {
    const std::string yaml = absl::StrCat("name: prep\ntype: prepare\nmodel: ", dir_, "/model\ndataset: ", dir_,
                                          "/data\noutput: ", dir_, "/out\nseed: 3\nprepare:\n  input: ", dir_,
                                          "/pairs.jsonl\n  pairs_per_shard: 4\n  heldout: 4\n  max_error_ratio: ",
                                          max_error_ratio, "\n");
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
    EXPECT_TRUE(spec.ok()) << spec.status();
    return *spec;
  }
  // Every chunk in `positions` finished the way a rank finishes it.
  void Finish(const JobSpec& spec, const std::set<size_t>& positions, int failed_per_chunk = 0) {
    absl::StatusOr<prepare::PrepareLayout> layout = prepare::LayOutPrepareJob(spec);
    ASSERT_TRUE(layout.ok()) << layout.status();
    for (size_t p : positions) {
      ASSERT_TRUE(testing::WriteFinishedChunk(spec, *layout, p, failed_per_chunk, kShape).ok());
    }
  }

  std::string dir_;
};

TEST_F(PrepareWorkTest, PlansLikeTheRanksAndSplitsTheChunksContiguously) {
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(Spec());
  ASSERT_TRUE(work.ok()) << work.status();
  // 16 train items in chunks of 4, 4 held-out items in one chunk.
  EXPECT_EQ((*work)->total_chunks(), 5);
  EXPECT_EQ((*work)->done_chunks(), 0);
  EXPECT_TRUE(fs::exists(dir_ + "/out/prepare-state/plan.json"));
  EXPECT_TRUE(fs::is_directory(dir_ + "/data"));
  const std::vector<std::vector<int64_t>> parts = (*work)->SplitPending(2);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(parts[1], (std::vector<int64_t>{2, 3, 4}));
  // More ranks than chunks: some get none.
  const std::vector<std::vector<int64_t>> wide = (*work)->SplitPending(8);
  int64_t assigned = 0;
  for (const auto& part : wide) assigned += static_cast<int64_t>(part.size());
  EXPECT_EQ(assigned, 5);
}

TEST_F(PrepareWorkTest, ResumesWithOnlyTheUnfinishedChunks) {
  const JobSpec spec = Spec();
  ASSERT_TRUE(PrepareWork::Create(spec).ok());
  Finish(spec, {0, 3});
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(spec);
  ASSERT_TRUE(work.ok()) << work.status();
  EXPECT_EQ((*work)->done_chunks(), 2);
  EXPECT_EQ((*work)->totals().pairs, 8);
  const std::vector<std::vector<int64_t>> parts = (*work)->SplitPending(2);
  EXPECT_EQ(parts[0], (std::vector<int64_t>{1}));
  EXPECT_EQ(parts[1], (std::vector<int64_t>{2, 4}));
}

TEST_F(PrepareWorkTest, ChecksWhatRanksReport) {
  const JobSpec spec = Spec();
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(spec);
  ASSERT_TRUE(work.ok());
  EXPECT_EQ((*work)->MarkDone(5).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*work)->MarkDone(-1).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status missing = (*work)->MarkDone(1).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("train-00001"));
  Finish(spec, {1});
  absl::StatusOr<prepare::ChunkRecord> record = (*work)->MarkDone(1);
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->pairs, 4);
  ASSERT_TRUE((*work)->MarkDone(1).ok());  // a repeated report counts once
  EXPECT_EQ((*work)->done_chunks(), 1);
}

TEST_F(PrepareWorkTest, FinishWritesTheReportAndAManifestOfExactCounts) {
  const JobSpec spec = Spec();
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(spec);
  ASSERT_TRUE(work.ok());
  // Not all chunks finished: no manifest.
  Finish(spec, {0, 1});
  EXPECT_FALSE((*work)->Finish().ok());
  EXPECT_FALSE(fs::exists(dir_ + "/data/manifest.json"));
  Finish(spec, {2, 3, 4});
  absl::StatusOr<prepare::PrepareReport> report = (*work)->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->total, 22);
  EXPECT_EQ(report->ties, 2);
  EXPECT_EQ(report->pairs.at("train"), 16);
  EXPECT_EQ(report->pairs.at("heldout"), 4);
  absl::StatusOr<data::Manifest> manifest = data::LoadManifest(dir_ + "/data");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->splits.at("train").pairs, 16);
  EXPECT_EQ(manifest->splits.at("heldout").pairs, 4);
  EXPECT_TRUE(manifest->shape == kShape);
  EXPECT_TRUE(fs::exists(dir_ + "/out/prepare-report.json"));
  // The finished dataset is this job's: planning it again is allowed, and
  // finds every chunk done.
  absl::StatusOr<std::unique_ptr<PrepareWork>> again = PrepareWork::Create(spec);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->done_chunks(), 5);
}

TEST_F(PrepareWorkTest, TooManyFailuresFailWithoutAManifest) {
  const JobSpec spec = Spec(/*max_error_ratio=*/0.1);
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(spec);
  ASSERT_TRUE(work.ok());
  Finish(spec, {0, 1, 2, 3, 4}, /*failed_per_chunk=*/1);
  absl::StatusOr<prepare::PrepareReport> report = (*work)->Finish();
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok());  // 5 of 20 failed: 25% > 10%
  EXPECT_EQ(report->failed, 5);
  EXPECT_THAT(prepare::FailureMessage(*report), HasSubstr("corrupt_image"));
  EXPECT_FALSE(fs::exists(dir_ + "/data/manifest.json"));
  EXPECT_TRUE(fs::exists(dir_ + "/out/prepare-report.json"));
}

TEST_F(PrepareWorkTest, RefusesADatasetItDidNotWrite) {
  fs::create_directories(dir_ + "/data");
  std::ofstream(dir_ + "/data/manifest.json") << "{}";
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(Spec());
  EXPECT_EQ(work.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(work.status().message()), HasSubstr("choose another dataset path"));
}

TEST_F(PrepareWorkTest, AnInputThatCannotBeIndexedIsAnError) {
  JobSpec spec = Spec();
  spec.prepare->input = dir_ + "/nothing.jsonl";
  absl::StatusOr<std::unique_ptr<PrepareWork>> work = PrepareWork::Create(spec);
  EXPECT_FALSE(work.ok());
  EXPECT_THAT(std::string(work.status().message()), HasSubstr("nothing.jsonl"));
}

}  // namespace
}  // namespace align::coordinator
