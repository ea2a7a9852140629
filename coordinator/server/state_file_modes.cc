#include "coordinator/server/state_file_modes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "coordinator/core/log.h"

namespace align::coordinator {

namespace {

absl::Status Denied(const std::string& what, const std::string& path, int error) {
  return absl::PermissionDeniedError(absl::StrCat("--state: cannot ", what, " ", path, ": ", std::strerror(error)));
}

// Makes an existing file 0600 if others may read it; a missing file is fine.
absl::Status RestrictFile(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return errno == ENOENT ? absl::OkStatus() : Denied("stat", path, errno);
  if ((info.st_mode & 0077) == 0) return absl::OkStatus();
  if (::chmod(path.c_str(), 0600) != 0) return Denied("chmod 600", path, errno);
  LogLine(absl::StrFormat("made %s readable by its owner only (it was mode %03o)", path, info.st_mode & 0777));
  return absl::OkStatus();
}

}  // namespace

absl::Status PrepareStateFiles(const std::string& state_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(state_dir, ec)) {
    std::filesystem::create_directories(state_dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(absl::StrCat("--state: cannot create ", state_dir, ": ", ec.message()));
    }
    if (::chmod(state_dir.c_str(), 0700) != 0) return Denied("chmod 700", state_dir, errno);
  } else if (!std::filesystem::is_directory(state_dir, ec)) {
    return absl::PermissionDeniedError(absl::StrCat("--state: ", state_dir, " is not a directory"));
  }
  const std::string database = absl::StrCat(state_dir, "/", kStateDatabaseName);
  for (const char* suffix : {"", "-wal", "-shm"}) {
    if (absl::Status restricted = RestrictFile(database + suffix); !restricted.ok()) return restricted;
  }
  const int fd = ::open(database.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return Denied("open", database, errno);
  ::close(fd);
  return absl::OkStatus();
}

}  // namespace align::coordinator
