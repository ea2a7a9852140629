#include "worker/control/job_mailbox.h"

#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"

namespace align::control {

void JobMailbox::AddAssignment(Assignment assignment) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    jobs_[assignment.job_id] = JobPlans();
    stops_.erase(assignment.job_id);
    assignments_.push_back(std::move(assignment));
  }
  arrived_.notify_all();
}

void JobMailbox::AddPlanChunk(const std::string& job_id, std::vector<PlannedStep> steps) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;  // a job this rank no longer runs
    for (PlannedStep& step : steps) it->second.steps[step.step] = std::move(step.micro_batches);
  }
  arrived_.notify_all();
}

void JobMailbox::AddWorkChunks(const std::string& job_id, std::vector<int64_t> positions) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = jobs_.find(job_id);
    if (it == jobs_.end()) return;
    it->second.work_chunks = std::move(positions);
  }
  arrived_.notify_all();
}

void JobMailbox::AddStageBoundary(const std::string& job_id, int64_t start_step, int stage) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it != jobs_.end()) it->second.stages[start_step] = stage;
}

void JobMailbox::AddStopOrder(const std::string& job_id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stops_.insert(job_id);
  }
  arrived_.notify_all();
}

void JobMailbox::MarkLost(const std::string& reason) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (lost_) return;
    lost_ = true;
    lost_reason_ = reason;
  }
  arrived_.notify_all();
}

bool JobMailbox::lost() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lost_;
}

std::string JobMailbox::lost_reason() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lost_reason_;
}

std::optional<Assignment> JobMailbox::WaitForAssignment() {
  std::unique_lock<std::mutex> lock(mu_);
  arrived_.wait(lock, [&] { return lost_ || !assignments_.empty(); });
  if (assignments_.empty()) return std::nullopt;
  Assignment next = std::move(assignments_.front());
  assignments_.pop_front();
  return next;
}

bool JobMailbox::HasPlanLocked(const std::string& job_id, int64_t step) const {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && it->second.steps.count(step) > 0;
}

bool JobMailbox::WaitForPlan(const std::string& job_id, int64_t step) {
  std::unique_lock<std::mutex> lock(mu_);
  arrived_.wait(lock, [&] { return lost_ || stops_.count(job_id) > 0 || HasPlanLocked(job_id, step); });
  return HasPlanLocked(job_id, step);
}

absl::StatusOr<plan::MicroBatchPlan> JobMailbox::MicroBatch(const std::string& job_id, int64_t step, int64_t micro) {
  std::unique_lock<std::mutex> lock(mu_);
  arrived_.wait(lock, [&] { return lost_ || stops_.count(job_id) > 0 || HasPlanLocked(job_id, step); });
  if (!HasPlanLocked(job_id, step)) {
    return absl::UnavailableError(absl::StrCat("no plan for step ", step, " of ", job_id,
                                               lost_ ? ": the coordinator session was lost" : ": the job is stopping"));
  }
  JobPlans& plans = jobs_.at(job_id);
  const std::vector<plan::MicroBatchPlan>& micros = plans.steps.at(step);
  if (micro < 0 || micro >= static_cast<int64_t>(micros.size())) {
    return absl::InvalidArgumentError(absl::StrCat("the coordinator's plan for step ", step, " of ", job_id, " has ",
                                                   micros.size(), " micro-batches; micro-batch ", micro,
                                                   " was asked for (grad_accum mismatch?)"));
  }
  plan::MicroBatchPlan result = micros[micro];
  // Steps before the previous one are never asked for again.
  plans.steps.erase(plans.steps.begin(), plans.steps.lower_bound(step - 1));
  return result;
}

int64_t JobMailbox::StageOf(const std::string& job_id, int64_t step) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return 0;
  auto stage = it->second.stages.upper_bound(step);
  if (stage == it->second.stages.begin()) return 0;
  return std::prev(stage)->second;
}

std::optional<std::vector<int64_t>> JobMailbox::WaitForWorkChunks(const std::string& job_id) {
  std::unique_lock<std::mutex> lock(mu_);
  auto chunks = [&]() -> const std::optional<std::vector<int64_t>>* {
    auto it = jobs_.find(job_id);
    return it == jobs_.end() ? nullptr : &it->second.work_chunks;
  };
  arrived_.wait(lock, [&] { return lost_ || stops_.count(job_id) > 0 || (chunks() != nullptr && chunks()->has_value()); });
  if (chunks() == nullptr) return std::nullopt;
  return *chunks();
}

bool JobMailbox::StopRequested(const std::string& job_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return stops_.count(job_id) > 0;
}

void JobMailbox::FinishJob(const std::string& job_id) {
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.erase(job_id);
  stops_.erase(job_id);
}

}  // namespace align::control
