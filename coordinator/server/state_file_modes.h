#pragma once
// The state directory holds every job's spec, events and metrics: other users
// of the machine must not read it, also when the coordinator runs outside
// systemd (whose unit sets UMask=0077). The directory is created 0700 and the
// database files are 0600 whatever the umask; SQLite gives its -wal and -shm
// files the database file's mode.

#include <string>

#include "absl/status/status.h"

namespace align::coordinator {

inline constexpr char kStateDatabaseName[] = "coordinator.db";

// Creates `state_dir` (0700) when missing, and coordinator.db (0600, empty:
// SQLite takes an empty file as a new database) when missing; an existing
// database file, -wal or -shm readable by others is made 0600 and said so on
// the log. PermissionDenied naming the path when any of this fails.
absl::Status PrepareStateFiles(const std::string& state_dir);

}  // namespace align::coordinator
