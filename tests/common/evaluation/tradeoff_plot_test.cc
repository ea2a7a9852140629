// The reward-diversity trade-off chart: one report colours its checkpoints,
// several colour by report; every point lands where its figures map; rewards
// of any report get a panel; nothing to plot is an error.

#include "common/evaluation/tradeoff_plot.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align::evaluation {
namespace {

using ::testing::HasSubstr;

CheckpointFigures Checkpoint(const std::string& name, std::vector<double> means, std::optional<double> diversity) {
  CheckpointFigures c;
  c.name = name;
  for (double mean : means) c.rewards.push_back(RewardFigures{mean});
  c.diversity = diversity;
  return c;
}

EvaluationFigures Report(std::vector<std::string> rewards, std::vector<CheckpointFigures> checkpoints) {
  EvaluationFigures f;
  f.rewards = std::move(rewards);
  f.prompts = 4;
  f.seeds = 2;
  f.checkpoints = std::move(checkpoints);
  return f;
}

// Pixels of `color` in the square of half-side `r` around (x, y).
int Around(const imaging::RgbImage& image, plot::Color color, int x, int y, int r) {
  int n = 0;
  for (int yy = std::max(0, y - r); yy <= std::min(image.height - 1, y + r); ++yy) {
    for (int xx = std::max(0, x - r); xx <= std::min(image.width - 1, x + r); ++xx) {
      const uint8_t* p = image.Row(yy) + 3 * xx;
      n += plot::Color{p[0], p[1], p[2]} == color;
    }
  }
  return n;
}

TEST(TradeoffPlotTest, OneColourPerReportAndEveryPointWhereItsFiguresMap) {
  const std::vector<LabelledReport> reports = {
      {"js", Report({"pickscore", "aesthetic"},
                    {Checkpoint("base", {21.0, 5.0}, 0.30), Checkpoint("step-500", {21.8, 5.3}, 0.26)})},
      {"kl", Report({"pickscore"}, {Checkpoint("base", {21.0}, 0.30), Checkpoint("step-500", {22.4}, 0.12)})},
  };
  absl::StatusOr<plot::Chart> chart = RenderTradeoffPlot(reports);
  ASSERT_TRUE(chart.ok()) << chart.status();
  EXPECT_EQ(chart->image.width, 900);
  EXPECT_EQ(chart->image.height, 40 + 360 * 2);  // pickscore and aesthetic
  ASSERT_EQ(chart->frames.size(), 2u);
  const int r = 2;  // inside every marker (ScatterMarkerRadius is larger)
  const plot::PanelFrame& pick = chart->frames[0];
  // js's points in its colour, kl's in its own, wherever their figures map.
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(0), pick.XToPixel(0.26), pick.YToPixel(21.8), r), 25);
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(1), pick.XToPixel(0.12), pick.YToPixel(22.4), r), 25);
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(0), pick.XToPixel(0.12), pick.YToPixel(22.4), r), 0);
  // The aesthetic panel has js's points only.
  const plot::PanelFrame& aesthetic = chart->frames[1];
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(0), aesthetic.XToPixel(0.26), aesthetic.YToPixel(5.3), r), 25);
  int kl_pixels = 0;
  for (int y = aesthetic.top + 1; y < aesthetic.bottom; ++y) {
    for (int x = aesthetic.left + 1; x < aesthetic.right; ++x) kl_pixels += Around(chart->image, plot::SeriesColor(1), x, y, 0);
  }
  EXPECT_EQ(kl_pixels, 0);
}

TEST(TradeoffPlotTest, OneReportColoursItsCheckpoints) {
  const std::vector<LabelledReport> reports = {
      {"", Report({"pickscore"}, {Checkpoint("base", {21.0}, 0.30), Checkpoint("dpo", {22.0}, 0.20),
                                  Checkpoint("one-seed", {23.0}, std::nullopt)})}};
  absl::StatusOr<plot::Chart> chart = RenderTradeoffPlot(reports);
  ASSERT_TRUE(chart.ok()) << chart.status();
  ASSERT_EQ(chart->frames.size(), 1u);
  EXPECT_EQ(chart->image.height, 40 + 360);
  const plot::PanelFrame& f = chart->frames[0];
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(0), f.XToPixel(0.30), f.YToPixel(21.0), 2), 25);
  EXPECT_EQ(Around(chart->image, plot::SeriesColor(1), f.XToPixel(0.20), f.YToPixel(22.0), 2), 25);
}

TEST(TradeoffPlotTest, NothingToPlotIsAnError) {
  EXPECT_THAT(std::string(RenderTradeoffPlot({}).status().message()), HasSubstr("at least one report"));
  const absl::Status one_seed =
      RenderTradeoffPlot({{"a", Report({"pickscore"}, {Checkpoint("base", {21.0}, std::nullopt)})}}).status();
  EXPECT_TRUE(absl::IsInvalidArgument(one_seed));
  EXPECT_THAT(std::string(one_seed.message()), HasSubstr("seeds >= 2"));
}

}  // namespace
}  // namespace align::evaluation
