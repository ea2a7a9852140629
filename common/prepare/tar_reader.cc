#include "common/prepare/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace align::prepare {

absl::StatusOr<std::unique_ptr<TarReader>> TarReader::Open(const std::string& path) {
  ::archive* a = archive_read_new();
  if (a == nullptr) return absl::ResourceExhaustedError("archive_read_new failed");
  archive_read_support_filter_all(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_filename(a, path.c_str(), 1 << 20) != ARCHIVE_OK) {
    const std::string message = archive_error_string(a) ? archive_error_string(a) : "unknown error";
    archive_read_free(a);
    return absl::NotFoundError(absl::StrCat("cannot open tar shard ", path, ": ", message));
  }
  return std::unique_ptr<TarReader>(new TarReader(path, a));
}

TarReader::~TarReader() { archive_read_free(archive_); }

absl::StatusOr<bool> TarReader::Next() {
  const std::string previous = name_;
  while (true) {
    archive_entry* entry = nullptr;
    const int rc = archive_read_next_header(archive_, &entry);
    if (rc == ARCHIVE_EOF) return false;
    if (rc < ARCHIVE_WARN) {  // ARCHIVE_FAILED / ARCHIVE_FATAL / ARCHIVE_RETRY
      const char* message = archive_error_string(archive_);
      return absl::DataLossError(absl::StrCat("tar shard ", path_, " is corrupt or truncated",
                                              previous.empty() ? "" : absl::StrCat(" after member ", previous), ": ",
                                              message ? message : "unknown error"));
    }
    if (archive_entry_filetype(entry) != AE_IFREG) continue;  // directories, links
    const char* name = archive_entry_pathname(entry);
    name_ = name ? name : "";
    size_ = archive_entry_size(entry);
    return true;
  }
}

absl::StatusOr<std::string> TarReader::ReadData(int64_t max_bytes) {
  if (size_ > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path_, ":", name_, ": member of ", size_, " bytes exceeds the limit of ", max_bytes));
  }
  std::string data(static_cast<size_t>(size_), '\0');
  int64_t done = 0;
  while (done < size_) {
    const la_ssize_t n = archive_read_data(archive_, data.data() + done, static_cast<size_t>(size_ - done));
    if (n < 0) {
      const char* message = archive_error_string(archive_);
      return absl::DataLossError(
          absl::StrCat(path_, ":", name_, ": cannot read member: ", message ? message : "unknown error"));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrCat(path_, ":", name_, ": member is truncated (", done, " of ", size_,
                                              " bytes)"));
    }
    done += n;
  }
  return data;
}

}  // namespace align::prepare
