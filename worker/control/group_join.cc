#include "worker/control/group_join.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "worker/control/rank_messages.h"

namespace align::control {

namespace {

// Codes that say the coordinator will never take this group as it is.
bool Refusal(const absl::Status& status) {
  return absl::IsUnauthenticated(status) || absl::IsPermissionDenied(status) ||
         absl::IsFailedPrecondition(status) || absl::IsInvalidArgument(status);
}

// Rank 0 registers; every rank gets its verdict.
JoinVerdict AgreeOnRegistration(MpiGroup& group, CoordinatorLink& link, const GroupIdentity& identity) {
  std::string encoded;
  if (group.rank() == 0) {
    absl::StatusOr<GroupRegistration> registered =
        link.RegisterGroup(identity.name, group.size(), identity.hosts, identity.device);
    JoinVerdict verdict;
    if (registered.ok()) {
      verdict = {JoinVerdict::Kind::kJoined, registered->group_id};
    } else {
      verdict = {Refusal(registered.status()) ? JoinVerdict::Kind::kRefused : JoinVerdict::Kind::kRetry,
                 std::string(registered.status().message())};
    }
    encoded = EncodeJoinVerdict(verdict);
  }
  absl::StatusOr<JoinVerdict> verdict = DecodeJoinVerdict(group.Broadcast(encoded, 0));
  if (!verdict.ok()) return {JoinVerdict::Kind::kRetry, std::string(verdict.status().message())};
  return *verdict;
}

}  // namespace

absl::StatusOr<JoinedGroup> JoinCoordinator(MpiGroup& group, CoordinatorLink& link, const GroupIdentity& identity,
                                            const std::string& address, std::ostream& err) {
  const std::string tag = absl::StrCat("align-worker rank ", group.rank(), ": ");
  absl::Duration backoff = absl::Milliseconds(250);
  std::string last_problem;
  while (true) {
    const JoinVerdict verdict = AgreeOnRegistration(group, link, identity);
    if (verdict.kind == JoinVerdict::Kind::kRefused) return absl::PermissionDeniedError(verdict.detail);

    JoinedGroup joined;
    std::string problem;
    // Registration problems are rank 0's to report; session problems each rank's.
    bool problem_is_mine = group.rank() == 0;
    if (verdict.kind == JoinVerdict::Kind::kJoined) {
      joined.group_id = verdict.detail;
      problem_is_mine = true;
      absl::StatusOr<std::unique_ptr<RankSession>> opened =
          link.OpenSession(joined.group_id, group.rank(), identity.host);
      if (opened.ok()) {
        joined.session = std::move(*opened);
      } else {
        problem = std::string(opened.status().message());
      }
    } else {
      problem = verdict.detail;
    }
    if (!group.AnyTrue(joined.session == nullptr)) return joined;

    if (problem_is_mine && !problem.empty() && problem != last_problem) {
      err << tag << "cannot join the coordinator at " << address << " (" << problem << "); retrying\n" << std::flush;
      last_problem = problem;
    }
    joined.session.reset();
    std::this_thread::sleep_for(absl::ToChronoMilliseconds(backoff));
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace align::control
