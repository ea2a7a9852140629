#include "coordinator/core/worker_registry.h"

#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace align::coordinator {

namespace {

// Random rather than a counter: ids end up in the jobs table, and a restarted
// coordinator must not hand a new group an id an old job still names.
std::string NewGroupId() {
  std::random_device device;
  const uint64_t value = (static_cast<uint64_t>(device()) << 32) ^ device();
  return absl::StrFormat("group-%016x", value);
}

}  // namespace

absl::StatusOr<GroupInfo> WorkerRegistry::Register(const GroupRegistration& registration) {
  if (registration.name.empty()) return absl::InvalidArgumentError("group_name: must not be empty");
  if (registration.world_size < 1 || registration.world_size > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("world_size: must be in [1, 65536], got ", registration.world_size));
  }
  if (static_cast<int>(registration.hosts.size()) != registration.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("hosts: expected one host per rank (", registration.world_size,
                                                   "), got ", registration.hosts.size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  GroupInfo info;
  do {
    info.id = NewGroupId();
  } while (groups_.count(info.id) > 0);
  info.registration = registration;
  info.registered_ms = info.last_seen_ms = now_ms_();
  groups_[info.id] = info;
  return info;
}

absl::Status WorkerRegistry::Attach(const std::string& group_id, int rank) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  if (it == groups_.end()) {
    return absl::NotFoundError(absl::StrCat("group_id: unknown worker group \"", group_id,
                                            "\" (the coordinator may have restarted: register again)"));
  }
  GroupInfo& group = it->second;
  if (rank < 0 || rank >= group.registration.world_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank: ", rank, " is outside the group's world size ", group.registration.world_size));
  }
  if (!group.ranks_connected.insert(rank).second) {
    return absl::AlreadyExistsError(absl::StrCat("rank ", rank, " of ", group_id, " already has a session"));
  }
  group.last_seen_ms = now_ms_();
  return absl::OkStatus();
}

void WorkerRegistry::Detach(const std::string& group_id, int rank) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  if (it != groups_.end()) it->second.ranks_connected.erase(rank);
}

void WorkerRegistry::Touch(const std::string& group_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  if (it != groups_.end()) it->second.last_seen_ms = now_ms_();
}

void WorkerRegistry::Remove(const std::string& group_id) {
  std::lock_guard<std::mutex> lock(mu_);
  groups_.erase(group_id);
}

std::vector<std::string> WorkerRegistry::Expired() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = now_ms_();
  const int64_t lease_ms = absl::ToInt64Milliseconds(lease_);
  std::vector<std::string> expired;
  for (const auto& [id, group] : groups_) {
    if (now - group.last_seen_ms > lease_ms) expired.push_back(id);
  }
  return expired;
}

bool WorkerRegistry::Contains(const std::string& group_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  return groups_.count(group_id) > 0;
}

int WorkerRegistry::WorldSize(const std::string& group_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = groups_.find(group_id);
  return it == groups_.end() ? 0 : it->second.registration.world_size;
}

int64_t WorkerRegistry::RanksUp() const {
  std::lock_guard<std::mutex> lock(mu_);
  int64_t up = 0;
  for (const auto& [id, group] : groups_) up += static_cast<int64_t>(group.ranks_connected.size());
  return up;
}

std::vector<GroupInfo> WorkerRegistry::Groups() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<GroupInfo> groups;
  for (const auto& [id, group] : groups_) groups.push_back(group);
  return groups;
}

}  // namespace align::coordinator
