#include "common/safetensors/reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/safetensors/internal.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::safetensors {
namespace {

using internal::AsAbsl;
using internal::Quote;
using json = nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
constexpr uint64_t kLengthFieldBytes = 8;

absl::Status TensorError(absl::StatusCode code, std::string_view name, absl::string_view problem) {
  return absl::Status(code, absl::StrCat("tensor ", Quote(name), ": ", problem));
}

absl::Status BadTensor(std::string_view name, absl::string_view problem) {
  return TensorError(absl::StatusCode::kInvalidArgument, name, problem);
}

absl::StatusOr<std::map<std::string, std::string>> ParseMetadata(const json& value) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("__metadata__ must be a JSON object of strings, got ", value.type_name()));
  }
  std::map<std::string, std::string> metadata;
  for (const auto& [key, entry] : *value.get_ptr<const json::object_t*>()) {
    if (!entry.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("__metadata__ value for ", Quote(key),
                                                     " must be a string, got ", entry.type_name()));
    }
    metadata.emplace(key, *entry.get_ptr<const json::string_t*>());
  }
  return metadata;
}

// Looks up a required field of a tensor entry.
absl::StatusOr<const json*> Field(std::string_view name, const json::object_t& entry,
                                  const char* field) {
  auto it = entry.find(field);
  if (it == entry.end()) return BadTensor(name, absl::StrCat("missing \"", field, "\""));
  return &it->second;
}

absl::StatusOr<DType> ParseEntryDType(std::string_view name, const json& value) {
  if (!value.is_string()) {
    return BadTensor(name, absl::StrCat("\"dtype\" must be a string, got ", value.type_name()));
  }
  absl::StatusOr<DType> dtype = ParseDType(*value.get_ptr<const json::string_t*>());
  if (!dtype.ok()) return BadTensor(name, dtype.status().message());
  return *dtype;
}

absl::StatusOr<std::vector<int64_t>> ParseEntryShape(std::string_view name, const json& value) {
  if (!value.is_array()) {
    return BadTensor(name, absl::StrCat("\"shape\" must be an array, got ", value.type_name()));
  }
  std::vector<int64_t> shape;
  shape.reserve(value.size());
  for (const json& dim : value) {
    if (dim.is_number_unsigned()) {
      const uint64_t v = dim.get<uint64_t>();
      if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return BadTensor(name, absl::StrCat("dimension ", v, " in \"shape\" is too large"));
      }
      shape.push_back(static_cast<int64_t>(v));
    } else if (dim.is_number_integer()) {
      // Signed and not unsigned: nlohmann only stores negative integers this way.
      return BadTensor(name, absl::StrCat("negative dimension ", dim.get<int64_t>(), " in \"shape\""));
    } else {
      return BadTensor(name, absl::StrCat("\"shape\" must hold integers, got ", dim.type_name()));
    }
  }
  return shape;
}

absl::Status ParseEntryOffsets(std::string_view name, const json& value, TensorInfo& info) {
  if (!value.is_array() || value.size() != 2 || !value[0].is_number_unsigned() ||
      !value[1].is_number_unsigned()) {
    return BadTensor(name, absl::StrCat("\"data_offsets\" must be two non-negative integers, got ",
                                        value.dump(-1, ' ', false, json::error_handler_t::replace)
                                            .substr(0, 80)));
  }
  info.begin = value[0].get<uint64_t>();
  info.end = value[1].get<uint64_t>();
  if (info.begin > info.end) {
    return BadTensor(name, absl::StrCat("data_offsets begin ", info.begin, " > end ", info.end));
  }
  return absl::OkStatus();
}

absl::StatusOr<TensorInfo> ParseTensor(const std::string& name, const json& value,
                                       uint64_t data_bytes) {
  if (name.empty()) return absl::InvalidArgumentError("empty tensor name");
  const auto* entry = value.get_ptr<const json::object_t*>();
  if (entry == nullptr) {
    return BadTensor(name, absl::StrCat("entry must be a JSON object, got ", value.type_name()));
  }
  TensorInfo info;
  info.name = name;
  ASSIGN_OR_RETURN(const json* dtype, Field(name, *entry, "dtype"));
  ASSIGN_OR_RETURN(const json* shape, Field(name, *entry, "shape"));
  ASSIGN_OR_RETURN(const json* offsets, Field(name, *entry, "data_offsets"));
  ASSIGN_OR_RETURN(info.dtype, ParseEntryDType(name, *dtype));
  ASSIGN_OR_RETURN(info.shape, ParseEntryShape(name, *shape));
  RETURN_IF_ERROR(ParseEntryOffsets(name, *offsets, info));

  absl::StatusOr<uint64_t> expected = internal::ByteSize(info.dtype, info.shape);
  if (!expected.ok()) return BadTensor(name, expected.status().message());
  if (info.end > data_bytes) {
    // Most likely a truncated file rather than a malformed header.
    return TensorError(absl::StatusCode::kDataLoss, name,
                       absl::StrCat("data_offsets [", info.begin, ", ", info.end,
                                    "] exceed the data buffer of ", data_bytes, " bytes"));
  }
  if (info.nbytes() != *expected) {
    return BadTensor(name, absl::StrCat("data_offsets span ", info.nbytes(), " bytes but ",
                                        AsAbsl(DTypeName(info.dtype)), " x shape ",
                                        internal::ShapeString(info.shape), " needs ", *expected,
                                        " (size mismatch)"));
  }
  return info;
}

// Like the reference implementation, the byte ranges must tile the data buffer
// exactly: no overlap (two tensors aliasing bytes), no gap and no trailing
// bytes (data no tensor accounts for, e.g. a file edited in place).
absl::Status CheckLayout(std::vector<TensorInfo>& tensors, uint64_t data_bytes) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.begin < covered) {
      return BadTensor(t.name, absl::StrCat("data_offsets [", t.begin, ", ", t.end,
                                            "] overlap tensor ", Quote(previous->name),
                                            " ending at ", covered));
    }
    if (t.begin > covered) {
      return BadTensor(t.name, absl::StrCat("gap: data_offsets begin at ", t.begin, " but ",
                                            previous == nullptr
                                                ? std::string("the data buffer starts at 0")
                                                : absl::StrCat("tensor ", Quote(previous->name),
                                                               " ends at ", covered)));
    }
    covered = t.end;
    previous = &t;
  }
  if (covered != data_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "trailing bytes: tensors cover ", covered, " of the ", data_bytes, " data bytes",
        previous == nullptr ? "" : absl::StrCat(" (the last is ", Quote(previous->name), ")")));
  }
  return absl::OkStatus();
}

uint64_t LoadLittleEndian64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t dim : shape) n *= dim;
  return n;
}

absl::StatusOr<Header> ParseHeader(std::string_view text, uint64_t data_bytes) {
  absl::StatusOr<json> root = internal::ParseJson(text);
  if (!root.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("header: ", root.status().message()));
  }
  const auto* object = root->get_ptr<const json::object_t*>();
  if (object == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("header must be a JSON object, got ", root->type_name()));
  }
  Header header;
  header.tensors.reserve(object->size());
  for (const auto& [name, value] : *object) {
    if (name == kMetadataKey) {
      ASSIGN_OR_RETURN(header.metadata, ParseMetadata(value));
      continue;
    }
    ASSIGN_OR_RETURN(TensorInfo info, ParseTensor(name, value, data_bytes));
    header.tensors.push_back(std::move(info));
  }
  RETURN_IF_ERROR(CheckLayout(header.tensors, data_bytes));
  return header;
}

absl::StatusOr<std::unique_ptr<File>> File::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open safetensors file ", path));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path));
    ::close(fd);
    return status;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::unique_ptr<File> file(new File());
  file->path_ = path;
  file->size_ = static_cast<size_t>(st.st_size);
  file->device_ = static_cast<uint64_t>(st.st_dev);
  file->inode_ = static_cast<uint64_t>(st.st_ino);
  // mmap rejects empty mappings; Init reports the too-short file instead.
  if (file->size_ > 0) {
    void* mapping = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (mapping == MAP_FAILED) {
      absl::Status status = absl::ErrnoToStatus(errno, absl::StrCat("cannot mmap ", path));
      ::close(fd);
      return status;
    }
    file->mapping_ = mapping;
    file->mapping_size_ = file->size_;
    file->bytes_ = static_cast<const uint8_t*>(mapping);
  }
  // The mapping keeps the file's pages reachable without the descriptor.
  ::close(fd);
  RETURN_IF_ERROR(file->Init(path));
  return file;
}

absl::StatusOr<std::unique_ptr<File>> File::FromBytes(std::string bytes) {
  std::unique_ptr<File> file(new File());
  file->owned_bytes_ = std::move(bytes);
  file->bytes_ = reinterpret_cast<const uint8_t*>(file->owned_bytes_.data());
  file->size_ = file->owned_bytes_.size();
  RETURN_IF_ERROR(file->Init("<in-memory safetensors>"));
  return file;
}

File::~File() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

absl::Status File::Init(std::string_view origin) {
  const auto fail = [&](absl::StatusCode code, absl::string_view problem) {
    return absl::Status(code, absl::StrCat(AsAbsl(origin), ": ", problem));
  };
  if (size_ < kLengthFieldBytes) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat("file is ", size_, " bytes, shorter than the ", kLengthFieldBytes,
                             "-byte header length (truncated)"));
  }
  const uint64_t header_bytes = LoadLittleEndian64(bytes_);
  if (header_bytes > kMaxHeaderBytes) {
    return fail(absl::StatusCode::kInvalidArgument,
                absl::StrCat("header length ", header_bytes, " exceeds the limit of ",
                             kMaxHeaderBytes, " bytes"));
  }
  const uint64_t after_length = size_ - kLengthFieldBytes;
  if (header_bytes > after_length) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat("header length ", header_bytes, " exceeds the ", after_length,
                             " bytes that follow it in the file (truncated)"));
  }
  const char* header_begin = reinterpret_cast<const char*>(bytes_ + kLengthFieldBytes);
  absl::StatusOr<Header> header =
      ParseHeader(std::string_view(header_begin, header_bytes), after_length - header_bytes);
  if (!header.ok()) return fail(header.status().code(), header.status().message());
  header_ = *std::move(header);
  data_ = bytes_ + kLengthFieldBytes + header_bytes;
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_.emplace(header_.tensors[i].name, i);
  return absl::OkStatus();
}

absl::Status File::ReadBytes(const TensorView& view, uint64_t offset, uint64_t length, void* dst) const {
  if (view.info == nullptr || offset > view.info->nbytes() || length > view.info->nbytes() - offset) {
    return absl::OutOfRangeError(absl::StrCat("bytes [", offset, ", ", offset + length, ") outside tensor ",
                                              view.info == nullptr ? "<none>" : Quote(view.info->name),
                                              " in ", path_.empty() ? "<in-memory safetensors>" : path_));
  }
  if (length == 0) return absl::OkStatus();
  const uint64_t position = static_cast<uint64_t>(view.data - bytes_) + offset;
  if (mapping_ == nullptr) {
    std::memcpy(dst, bytes_ + position, length);
    return absl::OkStatus();
  }
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path_, " again to read it"));
  struct stat st;
  absl::Status status = absl::OkStatus();
  if (::fstat(fd, &st) != 0) {
    status = absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path_));
  } else if (static_cast<uint64_t>(st.st_dev) != device_ || static_cast<uint64_t>(st.st_ino) != inode_) {
    status = absl::DataLossError(absl::StrCat(path_, ": replaced by another file while in use"));
  } else {
    auto* out = static_cast<uint8_t*>(dst);
    uint64_t done = 0;
    while (done < length) {
      const ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(position + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        status = absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path_));
        break;
      }
      if (n == 0) {
        status = absl::DataLossError(absl::StrCat(path_, ": truncated to ", static_cast<uint64_t>(st.st_size),
                                                  " bytes while in use (it had ", size_, "; tensor ",
                                                  Quote(view.info->name), " reaches byte ", position + length, ")"));
        break;
      }
      done += static_cast<uint64_t>(n);
    }
  }
  ::close(fd);
  return status;
}

bool File::Contains(std::string_view name) const { return index_.find(name) != index_.end(); }

absl::StatusOr<TensorView> File::Get(std::string_view name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    return absl::NotFoundError(absl::StrCat("tensor ", Quote(name), " not found in ",
                                            path_.empty() ? "<in-memory safetensors>" : path_));
  }
  const TensorInfo& info = header_.tensors[it->second];
  return TensorView{&info, data_ + info.begin};
}

}  // namespace align::safetensors
