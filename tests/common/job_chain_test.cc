// Job chains: splitting a file into documents, `after:` and ${jobs...}
// references resolved within the submission, and each error naming its
// document and problem.

#include "common/job_chain.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace align {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string Prepare(const std::string& name, const std::string& extra = "") {
  return absl::StrCat("name: ", name, "\ntype: prepare\nmodel: /models/sdxl\ndataset: data/", name,
                      "\noutput: runs/", name, "\nprepare: {input: /pairs.jsonl}\n", extra);
}

std::string Train(const std::string& name, const std::string& dataset, const std::string& extra = "") {
  return absl::StrCat("name: ", name, "\ntype: train\nmodel: /models/sdxl\ndataset: ", dataset, "\noutput: runs/",
                      name, "\nloss: {type: dpo, beta: 5}\nsteps: 10\n", extra);
}

std::string ErrorOf(const std::vector<std::string>& documents) {
  absl::StatusOr<std::vector<ChainJob>> chain = ParseJobChain(documents, "/work");
  EXPECT_FALSE(chain.ok());
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(chain.status().message());
}

TEST(SplitYamlDocumentsTest, SplitsAtDocumentMarkersAndDropsEmptyDocuments) {
  EXPECT_THAT(SplitYamlDocuments("a: 1\n"), ElementsAre("a: 1\n"));
  EXPECT_THAT(SplitYamlDocuments("a: 1"), ElementsAre("a: 1"));
  EXPECT_THAT(SplitYamlDocuments("---\na: 1\n---\nb: 2\n"), ElementsAre("---\na: 1\n", "---\nb: 2\n"));
  EXPECT_THAT(SplitYamlDocuments("# top\n---\n\n--- # empty\n---\na: 1\n...\n# trailing\n"),
              ElementsAre("---\na: 1\n...\n"));
  // A line that only starts with dashes is content.
  EXPECT_THAT(SplitYamlDocuments("a: |\n  ----\n"), ElementsAre("a: |\n  ----\n"));
  EXPECT_THAT(SplitYamlDocuments(""), IsEmpty());
}

TEST(JobChainTest, ASingleDocumentIsKeptAsWritten) {
  const std::string text = Prepare("prep", "after: [job-000007]\n");
  absl::StatusOr<std::vector<ChainJob>> chain = ParseJobChain({text}, "/work");
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 1u);
  EXPECT_EQ((*chain)[0].spec_yaml, text);
  EXPECT_THAT((*chain)[0].after, IsEmpty());
  EXPECT_THAT((*chain)[0].after_jobs, ElementsAre("job-000007"));
}

TEST(JobChainTest, ReferencesBecomeResolvedPathsAndDependencies) {
  const std::vector<std::string> documents = {
      Train("train", "${jobs.prep.dataset}", "after: [prep]\n"),
      Prepare("prep"),
      absl::StrCat("name: again\ntype: train\nmodel: ${jobs.train.output}/final\n",
                   "dataset: \"${jobs.prep.dataset}\"  # ${jobs.prep.dataset}\noutput: /abs/again\n",
                   "loss: {type: dpo, beta: 5}\nsteps: 10\n"),
  };
  absl::StatusOr<std::vector<ChainJob>> chain = ParseJobChain(documents, "/work");
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 3u);
  EXPECT_EQ((*chain)[0].spec.dataset, "/work/data/prep");
  EXPECT_THAT((*chain)[0].after, ElementsAre(1));
  EXPECT_THAT((*chain)[0].spec.after, ElementsAre("prep"));
  EXPECT_EQ((*chain)[1].spec_yaml, documents[1]);  // no references: as written
  EXPECT_THAT((*chain)[1].after, IsEmpty());
  EXPECT_EQ((*chain)[2].spec.model, "/work/runs/train/final");
  EXPECT_EQ((*chain)[2].spec.dataset, "/work/data/prep");
  // A reference is a dependency even without after:.
  EXPECT_THAT((*chain)[2].after, ElementsAre(0, 1));
  EXPECT_THAT((*chain)[2].spec_yaml, HasSubstr("model: /work/runs/train/final\n"));
  EXPECT_THAT((*chain)[2].spec_yaml, Not(HasSubstr("${jobs.")));
}

TEST(JobChainTest, DuplicateNamesAreRefused) {
  EXPECT_THAT(ErrorOf({Prepare("a"), Prepare("b"), Prepare("a")}),
              HasSubstr("documents 1 and 3 are both named \"a\""));
}

TEST(JobChainTest, AfterMustNameADocumentOrAJobId) {
  const std::string error = ErrorOf({Prepare("a"), Prepare("b", "after: [c]\n")});
  EXPECT_THAT(error, HasSubstr("document 2 (\"b\"): after: \"c\" is neither a job of this submission (a, b)"));
  EXPECT_THAT(ErrorOf({Prepare("a", "after: [a]\n")}), HasSubstr("after: a job cannot wait for itself"));
  EXPECT_THAT(ErrorOf({Prepare("a", "after: [b, b]\n")}), HasSubstr("after: \"b\" is listed twice"));
  EXPECT_THAT(ErrorOf({Prepare("a", "after: b\n")}), HasSubstr("after: expected a list"));
  EXPECT_THAT(ErrorOf({Prepare("a", "after: [\"x y\"]\n")}), HasSubstr("after: entry 1 must be a job name or id"));
}

TEST(JobChainTest, ACycleIsRefusedNamingItsJobs) {
  const std::string error = ErrorOf({Prepare("a", "after: [c]\n"), Prepare("b", "after: [a]\n"),
                                     Train("c", "${jobs.b.dataset}")});
  EXPECT_THAT(error, HasSubstr("jobs wait for each other in a cycle: a -> c -> b -> a"));
}

TEST(JobChainTest, ReferencesToUnknownJobsOrFieldsAreRefused) {
  EXPECT_THAT(ErrorOf({Prepare("a"), Train("t", "${jobs.z.dataset}")}),
              HasSubstr("document 2 (\"t\"): line 4: ${jobs.z.dataset}: no job \"z\" in this submission (jobs: a, t)"));
  EXPECT_THAT(ErrorOf({Prepare("a"), Train("t", "${jobs.a.input}")}),
              HasSubstr("${jobs.a.input}: \"input\" is not a field a reference can name (output, dataset, model)"));
  EXPECT_THAT(ErrorOf({Prepare("a"), Train("t", "${jobs.a}")}), HasSubstr("\"${jobs.a}\" is not a reference"));
  EXPECT_THAT(ErrorOf({Train("t", "${jobs.t.output}")}), HasSubstr("a job cannot refer to its own paths"));
}

TEST(JobChainTest, APathThatChangesHowTheYamlReadsIsRefused) {
  const std::vector<std::string> documents = {
      absl::StrCat("name: a\ntype: prepare\nmodel: /m\ndataset: \"/data/x: y\"\noutput: /o\n",
                   "prepare: {input: /pairs.jsonl}\n"),
      Train("t", "${jobs.a.dataset}")};
  EXPECT_THAT(ErrorOf(documents), HasSubstr("quote the values"));
  std::vector<std::string> quoted = documents;
  quoted[1] = Train("t", "\"${jobs.a.dataset}\"");
  absl::StatusOr<std::vector<ChainJob>> chain = ParseJobChain(quoted, "/work");
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ((*chain)[1].spec.dataset, "/data/x: y");
}

TEST(JobChainTest, SpecErrorsNameTheirDocument) {
  EXPECT_THAT(ErrorOf({Prepare("a"), "name: b\ntype: train\n"}), HasSubstr("document 2: model: required"));
  EXPECT_THAT(ErrorOf({}), HasSubstr("holds no job spec"));
}

TEST(JobChainTest, JobIdForm) {
  EXPECT_TRUE(IsJobIdForm("job-000042"));
  EXPECT_TRUE(IsJobIdForm("job-7"));
  EXPECT_FALSE(IsJobIdForm("job-"));
  EXPECT_FALSE(IsJobIdForm("job-12a"));
  EXPECT_FALSE(IsJobIdForm("prep"));
}

}  // namespace
}  // namespace align
