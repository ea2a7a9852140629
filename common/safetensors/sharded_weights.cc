#include "common/safetensors/sharded_weights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/safetensors/internal.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::safetensors {
namespace {

namespace fs = std::filesystem;
using internal::Quote;
using json = nlohmann::json;

constexpr std::string_view kFileSuffix = ".safetensors";
constexpr std::string_view kIndexSuffix = ".safetensors.index.json";

std::string Join(const std::string& dir, std::string_view name) {
  return (fs::path(dir) / fs::path(std::string(name))).string();
}

std::string DirName(const std::string& path) {
  std::string parent = fs::path(path).parent_path().string();
  return parent.empty() ? "." : parent;
}

bool IsRegularFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  std::string contents;
  char buffer[1 << 16];
  absl::Status status;
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::ErrnoToStatus(errno, absl::StrCat("cannot read ", path));
      break;
    }
    if (n == 0) break;
    contents.append(buffer, static_cast<size_t>(n));
    if (contents.size() > max_bytes) {
      status = absl::InvalidArgumentError(
          absl::StrCat(path, ": larger than the limit of ", max_bytes, " bytes"));
      break;
    }
  }
  ::close(fd);
  if (!status.ok()) return status;
  return contents;
}

// Shard names come from an untrusted index; they must name a file beside it.
absl::Status CheckShardName(const std::string& shard) {
  if (shard.empty() || shard == "." || shard == ".." ||
      shard.find('/') != std::string::npos || shard.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("shard name ", Quote(shard), " is not a plain file name"));
  }
  return absl::OkStatus();
}

// weight_map: tensor name -> shard file name.
absl::StatusOr<std::map<std::string, std::string>> ParseIndex(std::string_view text) {
  ASSIGN_OR_RETURN(json root, internal::ParseJson(text));
  if (!root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("index must be a JSON object, got ", root.type_name()));
  }
  auto metadata = root.find("metadata");
  if (metadata != root.end() && !metadata->is_object() && !metadata->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"metadata\" must be an object, got ", metadata->type_name()));
  }
  auto weight_map = root.find("weight_map");
  if (weight_map == root.end()) return absl::InvalidArgumentError("missing \"weight_map\"");
  if (!weight_map->is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"weight_map\" must be an object, got ", weight_map->type_name()));
  }
  std::map<std::string, std::string> result;
  for (const auto& [name, shard] : *weight_map->get_ptr<const json::object_t*>()) {
    if (!shard.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("\"weight_map\" entry for ", Quote(name),
                                                     " must be a string, got ", shard.type_name()));
    }
    const std::string& shard_name = *shard.get_ptr<const json::string_t*>();
    RETURN_IF_ERROR(CheckShardName(shard_name));
    result.emplace(name, shard_name);
  }
  return result;
}

absl::Status WithContext(const absl::Status& status, absl::string_view context) {
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

// The index and every shard must agree exactly; anything else means the shards
// come from different saves and loading them would mix weights silently.
absl::Status CheckShardsMatchIndex(const std::map<std::string, std::string>& weight_map,
                                   const std::map<std::string, std::shared_ptr<File>>& shards) {
  for (const auto& [name, shard] : weight_map) {
    if (!shards.at(shard)->Contains(name)) {
      return absl::DataLossError(absl::StrCat("tensor ", Quote(name), " is mapped to shard ",
                                              Quote(shard), " but that shard does not contain it"));
    }
  }
  for (const auto& [shard, file] : shards) {
    for (const TensorInfo& t : file->tensors()) {
      auto it = weight_map.find(t.name);
      if (it == weight_map.end()) {
        return absl::DataLossError(absl::StrCat("shard ", Quote(shard), " contains tensor ",
                                                Quote(t.name), " that weight_map does not list"));
      }
      if (it->second != shard) {
        return absl::DataLossError(absl::StrCat("tensor ", Quote(t.name), " is present in two shards, ",
                                                Quote(it->second), " and ", Quote(shard)));
      }
    }
  }
  return absl::OkStatus();
}

std::string ShardName(const std::string& base, size_t index, size_t count) {
  return absl::StrFormat("%s-%05d-of-%05d%s", base, index + 1, count, kFileSuffix);
}

bool AllDigits(std::string_view s) {
  if (s.size() < 5) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// Matches `<base>-DDDDD-of-DDDDD.safetensors` as ShardName writes it.
bool IsShardOf(std::string_view file, const std::string& base) {
  const std::string prefix = base + "-";
  if (file.size() < prefix.size() + kFileSuffix.size() || file.substr(0, prefix.size()) != prefix ||
      file.substr(file.size() - kFileSuffix.size()) != kFileSuffix) {
    return false;
  }
  file = file.substr(prefix.size(), file.size() - prefix.size() - kFileSuffix.size());
  size_t of = file.find("-of-");
  return of != std::string_view::npos && AllDigits(file.substr(0, of)) &&
         AllDigits(file.substr(of + 4));
}

// Removes files of an earlier save of `base` that the new one does not
// replace, so that Open never picks up a stale single file or index.
absl::Status RemoveStale(const std::string& dir, const std::string& base,
                         const std::set<std::string>& keep) {
  std::vector<std::string> stale;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string file = it->path().filename().string();
    const bool ours = file == base + std::string(kFileSuffix) ||
                      file == base + std::string(kIndexSuffix) || IsShardOf(file, base);
    if (ours && keep.count(file) == 0) stale.push_back(file);
  }
  if (ec) return absl::InternalError(absl::StrCat("cannot list ", dir, ": ", ec.message()));
  for (const std::string& file : stale) {
    const std::string path = Join(dir, file);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot remove stale ", path));
    }
  }
  return absl::OkStatus();
}

// Greedy packing in the given order, as transformers' shard_checkpoint does.
std::vector<std::vector<const NamedTensor*>> PlanShards(const std::vector<NamedTensor>& tensors,
                                                        uint64_t max_shard_bytes) {
  std::vector<std::vector<const NamedTensor*>> shards(1);
  uint64_t current = 0;
  for (const NamedTensor& t : tensors) {
    if (!shards.back().empty() && t.nbytes > max_shard_bytes - std::min(current, max_shard_bytes)) {
      shards.emplace_back();
      current = 0;
    }
    shards.back().push_back(&t);
    current += t.nbytes;
  }
  return shards;
}

absl::Status WriteShard(const std::vector<const NamedTensor*>& tensors, const std::string& path) {
  Writer writer;
  for (const NamedTensor* t : tensors) {
    RETURN_IF_ERROR(writer.Add(t->name, t->dtype, t->shape, t->data, t->nbytes));
  }
  return writer.WriteFile(path);
}

absl::Status WriteIndex(const std::string& path, uint64_t total_bytes,
                        const std::map<std::string, std::string>& weight_map) {
  json index = {{"metadata", {{"total_size", total_bytes}}}, {"weight_map", weight_map}};
  const std::string text =
      index.dump(2, ' ', /*ensure_ascii=*/false, json::error_handler_t::replace) + "\n";
  return internal::WriteFileAtomically(path, {text});
}

absl::StatusOr<uint64_t> ValidateForWrite(const std::vector<NamedTensor>& tensors) {
  std::set<std::string_view> names;
  uint64_t total = 0;
  for (const NamedTensor& t : tensors) {
    RETURN_IF_ERROR(internal::ValidateTensor(t.name, t.dtype, t.shape, t.data, t.nbytes));
    if (!names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("tensor ", Quote(t.name), " given twice"));
    }
    if (__builtin_add_overflow(total, t.nbytes, &total)) {
      return absl::InvalidArgumentError("total weights size overflows");
    }
  }
  return total;
}

}  // namespace

absl::StatusOr<ShardedWeights> ShardedWeights::Open(const std::string& dir, const std::string& base) {
  const std::string single = Join(dir, base + std::string(kFileSuffix));
  if (IsRegularFile(single)) return OpenSingle(single);
  const std::string index = Join(dir, base + std::string(kIndexSuffix));
  if (IsRegularFile(index)) return OpenIndex(index);
  return absl::NotFoundError(absl::StrCat("no weights ", Quote(base), " in ", dir,
                                          ": neither ", single, " nor ", index, " exists"));
}

absl::StatusOr<ShardedWeights> ShardedWeights::OpenPath(const std::string& path) {
  if (absl::EndsWith(path, ".json")) return OpenIndex(path);
  return OpenSingle(path);
}

void ShardedWeights::AddFile(std::shared_ptr<File> file) {
  for (const TensorInfo& t : file->tensors()) where_.emplace(t.name, file.get());
  files_.push_back(std::move(file));
}

absl::StatusOr<ShardedWeights> ShardedWeights::OpenSingle(const std::string& path) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> file, File::Open(path));
  ShardedWeights weights;
  weights.origin_ = path;
  weights.AddFile(std::move(file));
  return weights;
}

absl::StatusOr<ShardedWeights> ShardedWeights::OpenIndex(const std::string& index_path) {
  ASSIGN_OR_RETURN(std::string text, ReadSmallFile(index_path, kMaxHeaderBytes));
  absl::StatusOr<std::map<std::string, std::string>> weight_map = ParseIndex(text);
  if (!weight_map.ok()) return WithContext(weight_map.status(), index_path);

  std::map<std::string, std::shared_ptr<File>> shards;
  for (const auto& [name, shard] : *weight_map) {
    if (shards.count(shard) != 0) continue;
    absl::StatusOr<std::unique_ptr<File>> file = File::Open(Join(DirName(index_path), shard));
    if (!file.ok()) {
      return WithContext(file.status(), absl::StrCat(index_path, ": shard ", Quote(shard)));
    }
    shards.emplace(shard, *std::move(file));
  }
  absl::Status consistent = CheckShardsMatchIndex(*weight_map, shards);
  if (!consistent.ok()) return WithContext(consistent, index_path);

  ShardedWeights weights;
  weights.origin_ = index_path;
  for (auto& [shard, file] : shards) weights.AddFile(std::move(file));
  return weights;
}

std::vector<std::string> ShardedWeights::Names() const {
  std::vector<std::string> names;
  names.reserve(where_.size());
  for (const auto& [name, file] : where_) names.push_back(name);
  return names;
}

bool ShardedWeights::Contains(std::string_view name) const { return where_.find(name) != where_.end(); }

absl::StatusOr<TensorView> ShardedWeights::Get(std::string_view name) const {
  auto it = where_.find(name);
  if (it == where_.end()) {
    return absl::NotFoundError(
        absl::StrCat("tensor ", Quote(name), " not found in weights ", origin_));
  }
  return it->second->Get(name);
}

absl::Status WriteShardedWeights(const std::string& dir, const std::string& base,
                                 const std::vector<NamedTensor>& tensors, uint64_t max_shard_bytes) {
  if (base.empty() || base.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights base name ", Quote(base), " must be a plain file name"));
  }
  // Validate everything first: a failure half-way through would leave a mix of
  // new and old shards behind.
  absl::StatusOr<uint64_t> total = ValidateForWrite(tensors);
  if (!total.ok()) return WithContext(total.status(), absl::StrCat("weights ", dir, "/", base));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));

  const auto shards = PlanShards(tensors, max_shard_bytes);
  if (shards.size() == 1) {
    const std::string file = base + std::string(kFileSuffix);
    RETURN_IF_ERROR(WriteShard(shards[0], Join(dir, file)));
    return RemoveStale(dir, base, {file});
  }
  std::set<std::string> written;
  std::map<std::string, std::string> weight_map;
  for (size_t i = 0; i < shards.size(); ++i) {
    const std::string file = ShardName(base, i, shards.size());
    RETURN_IF_ERROR(WriteShard(shards[i], Join(dir, file)));
    for (const NamedTensor* t : shards[i]) weight_map.emplace(t->name, file);
    written.insert(file);
  }
  // The index goes after the shards so that it never names a missing file.
  const std::string index = base + std::string(kIndexSuffix);
  RETURN_IF_ERROR(WriteIndex(Join(dir, index), *total, weight_map));
  written.insert(index);
  return RemoveStale(dir, base, written);
}

}  // namespace align::safetensors
