#include "coordinator/alignctl/job_format.h"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "align/v1/job.pb.h"

namespace align::alignctl {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(JobFormatTest, DetailsNameTheAttemptThatWroteTheCheckpoint) {
  v1::Job job;
  job.set_id("job-000004");
  job.set_last_checkpoint_step(12);
  EXPECT_THAT(JobDetails(job), HasSubstr("checkpoint:  step 12\n"));
  job.set_last_checkpoint_attempt(3);
  EXPECT_THAT(JobDetails(job), HasSubstr("checkpoint:  step 12 (attempt 3)\n"));
  job.clear_last_checkpoint_step();
  EXPECT_THAT(JobDetails(job), Not(HasSubstr("checkpoint:")));
}

}  // namespace
}  // namespace align::alignctl
