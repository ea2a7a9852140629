#pragma once
// What the workers report, as Prometheus series (docs/operations.md lists
// them). Per job, labelled job="job-000042":
//   align_train_step, align_train_loss, align_train_implicit_accuracy,
//   align_train_reward_margin, align_train_policy_mse{pair="w"|"l"},
//   align_train_reference_mse{pair}, align_train_grad_norm,
//   align_train_learning_rate, align_train_pairs_per_second,
//   align_train_lora_norm, align_train_lora_scale (LoRA jobs),
//   align_curriculum_stage, align_gpu_memory_bytes{rank},
//   align_eval_heldout_implicit_accuracy, align_eval_heldout_loss (gauges);
//   with evaluate_every, each evaluation during training's figures
//   (docs/evaluation.md, "During training"): align_train_eval_reward{reward},
//   align_train_eval_reward_std{reward}, align_train_eval_diversity, and
//   align_train_eval_step (the step they are of);
//   an evaluate job's figures when it succeeds (docs/evaluation.md):
//   align_eval_reward{checkpoint,reward}, align_eval_reward_std{checkpoint,reward},
//   align_eval_prompt_variance{checkpoint,reward}, align_eval_win_rate{checkpoint,reward},
//   align_eval_win_rate_ci_low / _ci_high{checkpoint,reward}, align_eval_diversity{checkpoint};
//   align_step_duration_seconds (histogram), align_train_skipped_steps_total.
// Scheduler-wide counters: align_metric_samples_total,
//   align_plan_messages_total, align_job_assignments_total,
//   align_worker_groups_lost_total; gauge align_worker_groups.
// A job's series are dropped `retention` after it ends, so a long-lived
// coordinator does not grow without bound.
//
// The final step: a job's completion carries its step, so align_train_step
// reaches it even when the step's own report went to a coordinator process
// that is gone. A step reported twice in a row (a worker resending its final
// step after a reconnect) updates the gauges but is counted once in the
// step-duration histogram and the skipped-steps counter.

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "coordinator/core/job_kind.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace align::coordinator {

class TrainingMetrics {
 public:
  explicit TrainingMetrics(prometheus::Registry& registry, absl::Duration retention = absl::Minutes(10));

  // One optimizer step's values (metrics.jsonl's names); unknown names are
  // kept in the store but have no series.
  void ObserveStep(const std::string& job, int64_t step, const std::map<std::string, double>& values);
  // The job completed at `step`. Unless that step's own report was the last
  // one observed, the series move to it: align_train_step and the gauges of
  // `values` (the step's values as the store has them; may be empty). Counts
  // nothing: no worker reported a step here.
  void ObserveCompletion(const std::string& job, int64_t step, const std::map<std::string, double>& values);
  // An evaluation report of `step`: the held-out figures, or an evaluation
  // during training's (common/step_metrics.h's train_eval_* names).
  void ObserveEval(const std::string& job, int64_t step, const std::map<std::string, double>& values);
  // A finished job's figures; names outside the align_eval_* families above
  // are ignored. Dropped with the job's other series after the retention.
  void ObserveFigures(const std::string& job, const std::vector<ExportedFigure>& figures);
  void ObserveDeviceMemory(const std::string& job, int rank, double bytes);
  void SetStage(const std::string& job, int64_t stage);
  // The job ended (or left this coordinator): drop its series after the retention.
  void JobEnded(const std::string& job, int64_t now_ms);
  void JobResumed(const std::string& job);
  void DropExpired(int64_t now_ms);

  void CountPlanMessages(int64_t n) { plan_messages_->Increment(static_cast<double>(n)); }
  void CountAssignment() { assignments_->Increment(); }
  void CountGroupLost() { groups_lost_->Increment(); }
  void SetGroups(int64_t n) { groups_->Set(static_cast<double>(n)); }
  double metric_samples() const { return samples_->Value(); }
  double plan_messages() const { return plan_messages_->Value(); }

 private:
  struct JobSeries {
    std::vector<std::pair<prometheus::Family<prometheus::Gauge>*, prometheus::Gauge*>> gauges;
    prometheus::Histogram* step_duration = nullptr;
    prometheus::Counter* skipped = nullptr;
    int64_t ended_ms = -1;
    int64_t last_step = -1;  // the step the gauges show; -1: none yet
  };
  prometheus::Gauge& JobGauge(prometheus::Family<prometheus::Gauge>* family, const std::string& job,
                              std::map<std::string, std::string> labels = {});
  // align_train_step and the gauges of `values`, under mu_.
  void SetGaugesLocked(const std::string& job, int64_t step, const std::map<std::string, double>& values);

  absl::Duration retention_;
  std::mutex mu_;
  std::map<std::string, JobSeries> jobs_;
  // metrics.jsonl name -> (family, extra labels)
  std::map<std::string, std::pair<prometheus::Family<prometheus::Gauge>*, std::map<std::string, std::string>>> by_name_;
  std::map<std::string, prometheus::Family<prometheus::Gauge>*> figures_;  // by name
  prometheus::Family<prometheus::Gauge>* train_eval_reward_;
  prometheus::Family<prometheus::Gauge>* train_eval_reward_std_;
  prometheus::Family<prometheus::Gauge>* train_eval_diversity_;
  prometheus::Family<prometheus::Gauge>* train_eval_step_;
  prometheus::Family<prometheus::Gauge>* gpu_memory_;
  prometheus::Family<prometheus::Gauge>* stage_;
  prometheus::Family<prometheus::Histogram>* step_duration_;
  prometheus::Family<prometheus::Counter>* skipped_;
  prometheus::Counter* samples_;
  prometheus::Counter* plan_messages_;
  prometheus::Counter* assignments_;
  prometheus::Counter* groups_lost_;
  prometheus::Gauge* groups_;
};

}  // namespace align::coordinator
