#pragma once
// Worker groups known to this coordinator process, in memory: a group is an
// mpirun launch, which re-registers after a coordinator restart, so nothing
// here needs to outlive the process (the jobs it ran are in the store).
// Leases: a group none of whose ranks sent anything for lease() is expired;
// the scheduler (scheduler.h) removes it and requeues its job.

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace align::coordinator {

struct GroupRegistration {
  std::string name;
  int world_size = 0;
  std::vector<std::string> hosts;  // hosts[rank]
  std::string device;
};

struct GroupInfo {
  std::string id;
  GroupRegistration registration;
  int64_t registered_ms = 0;
  int64_t last_seen_ms = 0;
  std::set<int> ranks_connected;
};

class WorkerRegistry {
 public:
  WorkerRegistry(absl::Duration lease, std::function<int64_t()> now_ms)
      : lease_(lease), now_ms_(std::move(now_ms)) {}

  // InvalidArgument naming the field for an empty name, world_size < 1, or
  // a hosts list that is not world_size long.
  absl::StatusOr<GroupInfo> Register(const GroupRegistration& registration);
  // A rank's session opens. NotFound for an unknown group (the coordinator
  // restarted: register again), InvalidArgument for a rank out of range,
  // AlreadyExists when that rank already has a session.
  absl::Status Attach(const std::string& group_id, int rank);
  void Detach(const std::string& group_id, int rank);
  // Any message from the group renews its lease.
  void Touch(const std::string& group_id);

  // Forgets the group: later sessions for it are NotFound (register again).
  void Remove(const std::string& group_id);
  // Groups whose last message is older than the lease.
  std::vector<std::string> Expired() const;
  bool Contains(const std::string& group_id) const;
  // 0 for an unknown group.
  int WorldSize(const std::string& group_id) const;

  int64_t RanksUp() const;
  absl::Duration lease() const { return lease_; }
  std::vector<GroupInfo> Groups() const;

 private:
  absl::Duration lease_;
  std::function<int64_t()> now_ms_;
  mutable std::mutex mu_;
  std::map<std::string, GroupInfo> groups_;
};

}  // namespace align::coordinator
