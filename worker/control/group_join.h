#pragma once
// Joining the coordinator as one group: rank 0 registers the group and tells
// every rank the verdict over MPI (JoinVerdict); every rank then opens its
// session. The group has joined only when every rank has a session; until
// then all retry together, with backoff.

#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/control/mpi_group.h"
#include "worker/control/rank_session.h"

namespace align::control {

// Who the group is, as RegisterGroup and Hello tell the coordinator.
struct GroupIdentity {
  std::string name;                // the same on every rank
  std::string host;                // this rank's
  std::vector<std::string> hosts;  // every rank's, by rank
  std::string device;              // the group's capability: cpu | cuda
};

struct JoinedGroup {
  std::string group_id;
  std::unique_ptr<RankSession> session;  // this rank's
};

// Returns once every rank has joined, or, on every rank, PermissionDenied
// with the coordinator's reason when it refuses the group for good (its
// credentials or protocol version): retrying cannot help then. Problems are
// written to `err` once each until they change: registration problems by
// rank 0, session problems by the rank that has them.
absl::StatusOr<JoinedGroup> JoinCoordinator(MpiGroup& group, CoordinatorLink& link, const GroupIdentity& identity,
                                            const std::string& address, std::ostream& err);

}  // namespace align::control
