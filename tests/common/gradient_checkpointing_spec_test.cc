#include "common/gradient_checkpointing_spec.h"

#include <cctype>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/job_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::HasSubstr;

constexpr char kTrain[] = "name: t\ntype: train\nmodel: /m\ndataset: /d\noutput: /o\nsteps: 10\nloss: {type: dpo}\n";

absl::StatusOr<JobSpec> Parse(const std::string& extra) { return ParseJobSpec(std::string(kTrain) + extra); }

GradientCheckpointing ParsedOrDie(const std::string& extra) {
  absl::StatusOr<JobSpec> spec = Parse(extra);
  EXPECT_TRUE(spec.ok()) << spec.status() << "\n" << extra;
  return spec.ok() ? spec->gradient_checkpointing : GradientCheckpointing{};
}

TEST(GradientCheckpointingSpecTest, Modes) {
  EXPECT_EQ(ParsedOrDie("").mode, GradientCheckpointingMode::kNone);
  EXPECT_EQ(ParsedOrDie("gradient_checkpointing: none\n").mode, GradientCheckpointingMode::kNone);
  EXPECT_EQ(ParsedOrDie("gradient_checkpointing: full\n").mode, GradientCheckpointingMode::kFull);
  const GradientCheckpointing automatic = ParsedOrDie("gradient_checkpointing: auto\n");
  EXPECT_EQ(automatic.mode, GradientCheckpointingMode::kAuto);
  EXPECT_FALSE(automatic.memory_budget_gib.has_value());
  EXPECT_TRUE(automatic);
  EXPECT_FALSE(ParsedOrDie("gradient_checkpointing: none\n"));
}

TEST(GradientCheckpointingSpecTest, TheBooleanFormOfOlderSpecsMeansFullOrNone) {
  EXPECT_EQ(ParsedOrDie("gradient_checkpointing: true\n").mode, GradientCheckpointingMode::kFull);
  EXPECT_EQ(ParsedOrDie("gradient_checkpointing: True\n").mode, GradientCheckpointingMode::kFull);
  EXPECT_EQ(ParsedOrDie("gradient_checkpointing: false\n").mode, GradientCheckpointingMode::kNone);
}

TEST(GradientCheckpointingSpecTest, AutoTakesAMemoryBudget) {
  const GradientCheckpointing c = ParsedOrDie("gradient_checkpointing: auto\nmemory_budget_gib: 22.5\n");
  EXPECT_EQ(c.mode, GradientCheckpointingMode::kAuto);
  ASSERT_TRUE(c.memory_budget_gib.has_value());
  EXPECT_DOUBLE_EQ(*c.memory_budget_gib, 22.5);
  // The order of the two fields does not matter.
  EXPECT_TRUE(ParsedOrDie("memory_budget_gib: 0.5\ngradient_checkpointing: auto\n").memory_budget_gib.has_value());
}

TEST(GradientCheckpointingSpecTest, ModeNames) {
  EXPECT_EQ(GradientCheckpointingModeName(GradientCheckpointingMode::kNone), "none");
  EXPECT_EQ(GradientCheckpointingModeName(GradientCheckpointingMode::kFull), "full");
  EXPECT_EQ(GradientCheckpointingModeName(GradientCheckpointingMode::kAuto), "auto");
}

struct BadCase {
  std::string what;
  std::string yaml;
  std::vector<std::string> expected;
};

class GradientCheckpointingSpecErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(GradientCheckpointingSpecErrorTest, NamesTheField) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(GetParam().yaml);
  ASSERT_FALSE(spec.ok()) << GetParam().yaml;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  for (const std::string& s : GetParam().expected) {
    EXPECT_THAT(spec.status().message(), HasSubstr(s)) << GetParam().yaml;
  }
}

const std::string kAuto = std::string(kTrain) + "gradient_checkpointing: auto\n";

INSTANTIATE_TEST_SUITE_P(
    Rules, GradientCheckpointingSpecErrorTest,
    ::testing::Values(
        BadCase{"unknown mode", std::string(kTrain) + "gradient_checkpointing: some\n",
                {"gradient_checkpointing", "none, full or auto", "\"some\""}},
        BadCase{"list", std::string(kTrain) + "gradient_checkpointing: [full]\n", {"gradient_checkpointing"}},
        BadCase{"empty", std::string(kTrain) + "gradient_checkpointing:\n", {"gradient_checkpointing", "no value"}},
        BadCase{"budget without auto", std::string(kTrain) + "gradient_checkpointing: full\nmemory_budget_gib: 20\n",
                {"memory_budget_gib", "only applies with gradient_checkpointing: auto", "full"}},
        BadCase{"budget alone", std::string(kTrain) + "memory_budget_gib: 20\n", {"memory_budget_gib", "auto"}},
        BadCase{"budget zero", kAuto + "memory_budget_gib: 0\n", {"memory_budget_gib", "> 0"}},
        BadCase{"budget negative", kAuto + "memory_budget_gib: -4\n", {"memory_budget_gib", "> 0"}},
        BadCase{"budget nan", kAuto + "memory_budget_gib: .nan\n", {"memory_budget_gib", "finite"}},
        BadCase{"budget infinite", kAuto + "memory_budget_gib: .inf\n", {"memory_budget_gib", "finite"}},
        BadCase{"budget huge", kAuto + "memory_budget_gib: 1e300\n", {"memory_budget_gib", "<= 1048576"}},
        BadCase{"budget string", kAuto + "memory_budget_gib: '24'\n", {"memory_budget_gib", "string"}},
        BadCase{"budget words", kAuto + "memory_budget_gib: lots\n", {"memory_budget_gib", "number"}},
        BadCase{"budget on another type",
                "name: g\ntype: generate\nmodel: /m\noutput: /o\ngenerate: {prompts: p.txt}\n"
                "gradient_checkpointing: auto\nmemory_budget_gib: 8\n",
                {"memory_budget_gib", "type train"}}),
    [](const ::testing::TestParamInfo<BadCase>& info) {
      std::string name;
      for (char c : info.param.what) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
      return name;
    });

}  // namespace
}  // namespace align
