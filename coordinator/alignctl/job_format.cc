#include "coordinator/alignctl/job_format.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/printable_text.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"

namespace align::alignctl {

namespace {

const std::map<v1::JobState, std::string>& StateNames() {
  static const std::map<v1::JobState, std::string> names = {
      {v1::JOB_STATE_QUEUED, "queued"},       {v1::JOB_STATE_RUNNING, "running"},
      {v1::JOB_STATE_INTERRUPTED, "interrupted"}, {v1::JOB_STATE_SUCCEEDED, "succeeded"},
      {v1::JOB_STATE_FAILED, "failed"},       {v1::JOB_STATE_CANCELLED, "cancelled"},
  };
  return names;
}

}  // namespace

std::string StateName(v1::JobState state) {
  auto it = StateNames().find(state);
  return it == StateNames().end() ? absl::StrCat("state-", static_cast<int>(state)) : it->second;
}

std::optional<v1::JobState> ParseStateName(const std::string& name) {
  for (const auto& [state, state_name] : StateNames()) {
    if (state_name == name) return state;
  }
  return std::nullopt;
}

bool IsFinalState(v1::JobState state) {
  return state == v1::JOB_STATE_SUCCEEDED || state == v1::JOB_STATE_FAILED || state == v1::JOB_STATE_CANCELLED;
}

std::string FormatSeconds(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  if (s >= 86400) return absl::StrFormat("%dd%02dh", s / 86400, s % 86400 / 3600);
  if (s >= 3600) return absl::StrFormat("%dh%02dm", s / 3600, s % 3600 / 60);
  if (s >= 60) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%ds", s);
}

std::string FormatTime(const google::protobuf::Timestamp& time, bool set) {
  if (!set) return "-";
  const absl::Time t =
      absl::FromUnixMillis(google::protobuf::util::TimeUtil::TimestampToMilliseconds(time));
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

std::string ProgressSummary(const v1::Job& job) {
  const v1::JobProgress& p = job.progress();
  std::string line = absl::StrFormat("step %d/%d", p.step(), p.total_steps());
  if (p.total_steps() > 0) absl::StrAppendFormat(&line, " (%.1f%%)", 100.0 * p.step() / p.total_steps());
  if (p.has_pairs_per_s()) absl::StrAppendFormat(&line, "  %.3g pairs/s", p.pairs_per_s());
  if (p.has_eta_seconds()) absl::StrAppend(&line, "  ETA ", FormatSeconds(p.eta_seconds()));
  if (p.has_loss()) absl::StrAppendFormat(&line, "  loss %.4f", p.loss());
  if (p.has_implicit_accuracy()) absl::StrAppendFormat(&line, "  acc %.3f", p.implicit_accuracy());
  if (p.has_stage()) absl::StrAppendFormat(&line, "  stage %d", p.stage());
  return line;
}

std::string AfterSummary(const v1::Job& job) {
  std::vector<std::string> entries;
  for (const v1::JobDependency& dependency : job.after()) {
    entries.push_back(
        absl::StrCat(EscapeControlCharacters(dependency.job_id()), " (", StateName(dependency.state()), ")"));
  }
  return absl::StrJoin(entries, ", ");
}

bool IsWaiting(const v1::Job& job) {
  if (job.state() != v1::JOB_STATE_QUEUED) return false;
  for (const v1::JobDependency& dependency : job.after()) {
    if (dependency.state() != v1::JOB_STATE_SUCCEEDED) return true;
  }
  return false;
}

std::string ProgressLine(const v1::Job& job) {
  if (IsWaiting(job)) {
    return absl::StrFormat("%s %-11s waiting, after %s", job.id(), StateName(job.state()), AfterSummary(job));
  }
  return absl::StrFormat("%s %-11s %s", job.id(), StateName(job.state()), ProgressSummary(job));
}

std::string JobDetails(const v1::Job& job) {
  std::string text = absl::StrCat(job.id(), "  ", EscapeControlCharacters(job.name()), " (", EscapeControlCharacters(job.type()), ")\n");
  absl::StrAppend(&text, "state:       ", StateName(job.state()),
                  IsWaiting(job) ? " (waiting: a job it runs after has not succeeded yet)" : "", "\n");
  if (job.after_size() > 0) absl::StrAppend(&text, "after:       ", AfterSummary(job), "\n");
  absl::StrAppend(&text, "progress:    ", ProgressSummary(job), "\n");
  absl::StrAppend(&text, "created:     ", FormatTime(job.created_at(), job.has_created_at()), "\n");
  absl::StrAppend(&text, "started:     ", FormatTime(job.started_at(), job.has_started_at()), "\n");
  absl::StrAppend(&text, "finished:    ", FormatTime(job.finished_at(), job.has_finished_at()), "\n");
  absl::StrAppend(&text, "attempts:    ", job.attempts(), "\n");
  if (!job.owner().empty()) absl::StrAppend(&text, "owner:       ", EscapeControlCharacters(job.owner()), "\n");
  if (!job.group_id().empty()) absl::StrAppend(&text, "group:       ", EscapeControlCharacters(job.group_id()), "\n");
  if (job.has_last_checkpoint_step()) {
    absl::StrAppend(&text, "checkpoint:  step ", job.last_checkpoint_step(),
                    job.has_last_checkpoint_attempt() ? absl::StrCat(" (attempt ", job.last_checkpoint_attempt(), ")")
                                                      : std::string(),
                    "\n");
  }
  if (!job.base_dir().empty()) absl::StrAppend(&text, "base dir:    ", EscapeControlCharacters(job.base_dir()), "\n");
  if (!job.error().empty()) absl::StrAppend(&text, "error:       ", EscapeControlCharacters(job.error()), "\n");
  return text;
}

std::string JobJson(const v1::Job& job) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(job, &json, options);
  // Fails only for a message this program's own generated code did not build;
  // still one valid JSON object, saying so, rather than half of one. A job id
  // ("job-000042") needs no escaping.
  if (!printed.ok()) return absl::StrCat("{\"id\": \"", job.id(), "\", \"error\": \"cannot print the job as JSON\"}");
  return json;
}

}  // namespace align::alignctl
