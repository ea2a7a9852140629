#include "common/lora_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/job_spec.h"

namespace align {
namespace {

std::string Train(const std::string& extra, const std::string& loss = "{type: dpo, beta: 5}") {
  return "name: j\ntype: train\nmodel: m\ndataset: d\noutput: o\nsteps: 10\nloss: " + loss + "\n" + extra;
}

void ExpectError(const std::string& yaml, const std::string& needle) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(yaml);
  ASSERT_FALSE(spec.ok()) << yaml;
  EXPECT_TRUE(absl::StrContains(spec.status().message(), needle)) << spec.status();
}

TEST(LoraSpecTest, DefaultsWithoutLora) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Train(""));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->lora.has_value());
  EXPECT_EQ(spec->reference, ReferenceKind::kModel);
}

TEST(LoraSpecTest, LoraSectionAndItsDefaults) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(Train("lora: {rank: 16}\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_TRUE(spec->lora.has_value());
  EXPECT_EQ(spec->lora->rank, 16);
  EXPECT_EQ(spec->lora->alpha, 16.0) << "alpha defaults to the rank (scale 1)";
  EXPECT_EQ(spec->lora->targets, (std::vector<std::string>{"to_q", "to_k", "to_v", "to_out.0"}));
  EXPECT_EQ(spec->lora->dropout, 0.0);
  EXPECT_FALSE(spec->lora->save_merged);
  EXPECT_EQ(spec->reference, ReferenceKind::kBase) << "LoRA's default reference is the base";

  spec = ParseJobSpec(Train("lora: {rank: 4, alpha: 8, targets: [to_q, ff, proj_in], dropout: 0.1, "
                            "save_merged: true}\nreference: model\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->lora->alpha, 8.0);
  EXPECT_EQ(spec->lora->targets, (std::vector<std::string>{"to_q", "ff", "proj_in"}));
  EXPECT_EQ(spec->lora->dropout, 0.1);
  EXPECT_TRUE(spec->lora->save_merged);
  EXPECT_EQ(spec->reference, ReferenceKind::kModel);

  spec = ParseJobSpec(Train("lora:\n"));
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(spec->lora.has_value()) << "`lora:` alone turns LoRA on with the defaults";
}

TEST(LoraSpecTest, BadValuesNameTheField) {
  ExpectError(Train("lora: {rank: 0}\n"), "lora.rank: must be from 1 to 1024");
  ExpectError(Train("lora: {rank: 4096}\n"), "lora.rank");
  ExpectError(Train("lora: {alpha: -1}\n"), "lora.alpha: must be > 0");
  ExpectError(Train("lora: {dropout: 1}\n"), "lora.dropout: must be in [0, 1)");
  ExpectError(Train("lora: {targets: [to_q, conv_in]}\n"), "lora.targets: \"conv_in\" is not one of");
  ExpectError(Train("lora: {targets: [to_q, to_q]}\n"), "listed twice");
  ExpectError(Train("lora: {targets: []}\n"), "lora.targets: must name at least one layer");
  ExpectError(Train("lora: {rank: 4, scale: 2}\n"), "unknown field lora.scale");
  ExpectError(Train("reference: frozen\n"), "reference: \"frozen\" is not one of model, base");
}

TEST(LoraSpecTest, BaseReferenceNeedsLora) {
  ExpectError(Train("reference: base\n"), "reference: base (the policy with its adapters off) needs a `lora:`");
  EXPECT_TRUE(ParseJobSpec(Train("lora: {rank: 4}\nreference: base\n")).ok());
  // Reference-free losses train with LoRA too.
  EXPECT_TRUE(ParseJobSpec(Train("lora: {rank: 4}\n", "{type: mapo, mapo_beta: 0.1}")).ok());
}

TEST(LoraSpecTest, OnlyForTrainJobs) {
  ExpectError("name: p\ntype: prepare\nmodel: m\ndataset: d\noutput: o\nprepare: {input: x.jsonl}\nlora: {rank: 4}\n",
              "lora: only applies to type train");
}

}  // namespace
}  // namespace align
