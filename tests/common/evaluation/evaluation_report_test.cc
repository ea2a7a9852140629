// An evaluate job's files from its chunk records: records.jsonl, report.json
// (figures equal to ComputeFigures' on the same records, read back by
// ParseReport), the terminal table, the contact sheet (size, each cell the
// right checkpoint's image, labels) and the scatter plot; a missing chunk is
// named. Chunk records are written as the ranks do (tests/support/evaluated_chunk.h).

#include "common/evaluation/evaluation_report.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/evaluation/contact_sheet.h"
#include "common/evaluation/evaluate_layout.h"
#include "common/file_util.h"
#include "common/imaging/decode_image.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/evaluated_chunk.h"
#include "tests/support/temp_dir.h"

namespace align::evaluation {
namespace {

using ::testing::HasSubstr;

class EvaluationReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(WriteFileAtomically(dir_.File("prompts.txt"), "a red cube\na blue ball\na green cone\n").ok());
    const std::string yaml = absl::StrCat(
        "name: eval\ntype: evaluate\nmodel: sdxl\noutput: ", dir_.File("out"),
        "\nseed: 9\nevaluate: {prompts: ", dir_.File("prompts.txt"),
        ", seeds: 2, prompts_per_chunk: 2, checkpoints: [{name: base}, {name: dpo, unet: ckpt}, {name: third}],"
        " base: base, rewards: [{reward: pickscore, model: p}, {reward: aesthetic, model: a}], embedder: e}\n");
    absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
    ASSERT_TRUE(spec.ok()) << spec.status();
    absl::StatusOr<EvaluateLayout> layout = LayOutEvaluateJob(*spec);
    ASSERT_TRUE(layout.ok()) << layout.status();
    layout_ = *layout;
  }

  void FinishChunk(int64_t chunk) {
    ASSERT_TRUE(testing::WriteEvaluatedChunk(layout_, chunk).ok());
    ASSERT_TRUE(FinishedEvaluateChunk(layout_, chunk).has_value());
  }

  testing::TempDir dir_{"evaluation_report"};
  EvaluateLayout layout_;
};

TEST_F(EvaluationReportTest, LayoutCutsChunksCheckpointByCheckpoint) {
  EXPECT_EQ(layout_.chunks_per_checkpoint(), 2);
  EXPECT_EQ(layout_.num_chunks(), 6);
  EXPECT_EQ(layout_.CheckpointOf(3), 1);
  EXPECT_EQ(layout_.FirstPrompt(3), 2);
  EXPECT_EQ(layout_.EndPrompt(3), 3);
  EXPECT_EQ(layout_.ImagesIn(3), 2);
  EXPECT_EQ(layout_.base, 0);
  EXPECT_EQ(layout_.ImageFile(1, 2, 1), "images/dpo/000002-001.png");
  // The same (prompt, seed) has the same sample id (noise) for every checkpoint.
  EXPECT_EQ(layout_.SampleId(2, 1), 5);
  EXPECT_FALSE(FinishedEvaluateChunk(layout_, 0).has_value());
}

TEST_F(EvaluationReportTest, WritesTheReportAndItsPictures) {
  for (int64_t chunk = 0; chunk < layout_.num_chunks() - 1; ++chunk) FinishChunk(chunk);
  EXPECT_THAT(WriteEvaluationReport(layout_, {100, 9}).status().message(), HasSubstr("chunk 5 has no finished record"));
  FinishChunk(layout_.num_chunks() - 1);

  absl::StatusOr<EvaluationFigures> figures = WriteEvaluationReport(layout_, {100, 9});
  ASSERT_TRUE(figures.ok()) << figures.status();
  absl::StatusOr<CollectedEvaluation> collected = CollectEvaluation(layout_);
  ASSERT_TRUE(collected.ok()) << collected.status();
  EXPECT_EQ(collected->data.images.size(), 18u);
  absl::StatusOr<EvaluationFigures> direct = ComputeFigures(collected->data, {100, 9});
  ASSERT_TRUE(direct.ok());

  // report.json holds exactly the figures computed from the records.
  absl::StatusOr<std::string> text = ReadFileToString(layout_.output + "/report.json");
  ASSERT_TRUE(text.ok());
  absl::StatusOr<EvaluationFigures> parsed = ParseReport(*text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->checkpoints.size(), 3u);
  EXPECT_EQ(parsed->rewards, (std::vector<std::string>{"pickscore", "aesthetic"}));
  for (size_t c = 0; c < 3; ++c) {
    for (size_t r = 0; r < 2; ++r) {
      EXPECT_DOUBLE_EQ(parsed->checkpoints[c].rewards[r].mean, direct->checkpoints[c].rewards[r].mean);
      EXPECT_DOUBLE_EQ(parsed->checkpoints[c].rewards[r].win_rate, direct->checkpoints[c].rewards[r].win_rate);
      EXPECT_DOUBLE_EQ(*parsed->checkpoints[c].rewards[r].win_rate_ci_low,
                       *direct->checkpoints[c].rewards[r].win_rate_ci_low);
    }
    EXPECT_DOUBLE_EQ(*parsed->checkpoints[c].diversity, *direct->checkpoints[c].diversity);
  }
  EXPECT_NEAR(*parsed->checkpoints[0].diversity, 0.0, 1e-7);
  EXPECT_GT(*parsed->checkpoints[2].diversity, 0.0);
  // dpo scores 1 higher on pickscore, 0.5 lower on aesthetic, on every pair.
  EXPECT_DOUBLE_EQ(parsed->checkpoints[1].rewards[0].win_rate, 1.0);
  EXPECT_DOUBLE_EQ(parsed->checkpoints[1].rewards[1].win_rate, 0.0);
  EXPECT_DOUBLE_EQ(parsed->checkpoints[0].rewards[0].win_rate, 0.5);
  EXPECT_THAT(*text, HasSubstr("\"formulas\""));

  const std::string table = FormatReportTable(*parsed);
  EXPECT_THAT(table, HasSubstr("checkpoint"));
  EXPECT_THAT(table, HasSubstr("win pickscore [95% CI]"));
  EXPECT_THAT(table, HasSubstr("base *"));
  EXPECT_THAT(table, HasSubstr("1.000 [1.000, 1.000]"));

  absl::StatusOr<std::string> records = ReadFileToString(layout_.output + "/records.jsonl");
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(std::count(records->begin(), records->end(), '\n'), 18);

  // The contact sheet: 3 prompts x 3 checkpoints, each cell its checkpoint's grey.
  absl::StatusOr<std::string> sheet_png = ReadFileToString(layout_.output + "/contact_sheet.png");
  ASSERT_TRUE(sheet_png.ok());
  absl::StatusOr<imaging::RgbImage> sheet = imaging::DecodeImage(*sheet_png, "contact_sheet.png");
  ASSERT_TRUE(sheet.ok()) << sheet.status();
  const ContactSheetLayout geometry =
      LayOutContactSheet(layout_.prompts, {"base", "dpo", "third"}, kContactSheetCell);
  EXPECT_EQ(sheet->width, geometry.width);
  EXPECT_EQ(sheet->height, geometry.height);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) {
      // Images are 48x32 (smaller than a cell: kept at their size), centred.
      const int cx = geometry.CellX(c) + kContactSheetCell / 2, cy = geometry.CellY(r) + kContactSheetCell / 2;
      EXPECT_EQ(sheet->Row(cy)[3 * cx], 40 + 80 * c) << "cell " << r << ", " << c;
      EXPECT_EQ(sheet->Row(cy - 15)[3 * (cx - 23)], 40 + 80 * c) << "cell " << r << ", " << c;
      EXPECT_EQ(sheet->Row(cy - 17)[3 * cx], 255) << "above the image of cell " << r << ", " << c;
      EXPECT_EQ(sheet->Row(cy)[3 * (cx + 25)], 255) << "right of the image of cell " << r << ", " << c;
    }
  }
  // Labels: ink in the row-label column and over the columns.
  int ink = 0;
  for (int y = 0; y < geometry.height; ++y) {
    for (int x = 0; x < geometry.label_width; ++x) ink += sheet->Row(y)[3 * x] < 100;
  }
  EXPECT_GT(ink, 20);

  absl::StatusOr<std::string> scatter_png = ReadFileToString(layout_.output + "/reward_vs_diversity.png");
  ASSERT_TRUE(scatter_png.ok());
  absl::StatusOr<imaging::RgbImage> scatter = imaging::DecodeImage(*scatter_png, "reward_vs_diversity.png");
  ASSERT_TRUE(scatter.ok());
  EXPECT_EQ(scatter->width, 900);
  EXPECT_EQ(scatter->height, 40 + 360 * 2);
}

}  // namespace
}  // namespace align::evaluation
