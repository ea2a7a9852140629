#include "coordinator/core/job_kind_registry.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "coordinator/core/log.h"
#include "coordinator/core/evaluate_job_kind.h"
#include "coordinator/core/generate_job_kind.h"
#include "coordinator/core/pairs_job_kind.h"
#include "coordinator/core/prepare_job_kind.h"
#include "coordinator/core/score_job_kind.h"
#include "coordinator/core/train_job_kind.h"

namespace align::coordinator {

absl::Status JobKindRegistry::Register(std::unique_ptr<JobKind> kind) {
  const JobType type = kind->type();
  if (kinds_.count(type) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("a kind of job \"", kinds_.at(type)->name(),
                                                 "\" is already registered for the type of \"", kind->name(), "\""));
  }
  kinds_.emplace(type, std::move(kind));
  return absl::OkStatus();
}

absl::StatusOr<const JobKind*> JobKindRegistry::Find(JobType type) const {
  auto it = kinds_.find(type);
  if (it == kinds_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("type: this coordinator runs no jobs of this type (type #", static_cast<int>(type), ")"));
  }
  return it->second.get();
}

namespace {

JobKindRegistry* MakeBuiltInJobKinds() {
  auto* registry = new JobKindRegistry();
  std::unique_ptr<JobKind> kinds[] = {std::make_unique<TrainJobKind>(), std::make_unique<PrepareJobKind>(),
                                      std::make_unique<GenerateJobKind>(), std::make_unique<ScoreJobKind>(),
                                      std::make_unique<PairsJobKind>(), std::make_unique<EvaluateJobKind>()};
  for (std::unique_ptr<JobKind>& kind : kinds) {
    const std::string name = kind->name();
    if (absl::Status registered = registry->Register(std::move(kind)); !registered.ok()) {
      // Two built-in kinds claim one type: a coordinator built so cannot run either.
      LogLine(absl::StrCat("cannot register the kind of job \"", name, "\": ", registered.ToString()));
      std::abort();
    }
  }
  return registry;
}

}  // namespace

const JobKindRegistry& BuiltInJobKinds() {
  static const JobKindRegistry* const kinds = MakeBuiltInJobKinds();
  return *kinds;
}

}  // namespace align::coordinator
