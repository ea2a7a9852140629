#include "common/prepare/webdataset_input.h"

#include <glob.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/prepare/item_fields.h"
#include "common/status_macros.h"

namespace align::prepare {
namespace fs = std::filesystem;

namespace {

bool IsShardName(const std::string& name) {
  for (const char* suffix : {".tar", ".tar.gz", ".tgz", ".tar.zst", ".tar.xz"}) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ResolveShards(const std::string& input) {
  std::vector<std::string> shards;
  std::error_code ec;
  if (fs::is_directory(input, ec)) {
    for (const fs::directory_entry& entry : fs::directory_iterator(input, ec)) {
      if (entry.is_regular_file(ec) && IsShardName(entry.path().filename().string())) {
        shards.push_back(entry.path().string());
      }
    }
    if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot list ", input, ": ", ec.message()));
  } else if (input.find_first_of("*?[") != std::string::npos) {
    glob_t matches;
    const int rc = ::glob(input.c_str(), 0, nullptr, &matches);
    if (rc == 0) {
      for (size_t i = 0; i < matches.gl_pathc; ++i) {
        if (fs::is_regular_file(matches.gl_pathv[i], ec)) shards.emplace_back(matches.gl_pathv[i]);
      }
    }
    globfree(&matches);
  } else if (fs::is_regular_file(input, ec)) {
    shards.push_back(input);
  }
  if (shards.empty()) return absl::NotFoundError(absl::StrCat("no tar shards found at ", input));
  std::sort(shards.begin(), shards.end());
  return shards;
}

void SplitMemberName(const std::string& name, std::string* key, std::string* extension) {
  const size_t slash = name.rfind('/');
  const size_t dot = name.find('.', slash == std::string::npos ? 0 : slash + 1);
  if (dot == std::string::npos) {
    *key = name;
    extension->clear();
  } else {
    *key = name.substr(0, dot);
    *extension = name.substr(dot + 1);
  }
}

absl::StatusOr<std::unique_ptr<WebDatasetReader>> WebDatasetReader::Open(const std::string& path,
                                                                         LoadPredicate load) {
  ASSIGN_OR_RETURN(std::unique_ptr<TarReader> tar, TarReader::Open(path));
  return std::unique_ptr<WebDatasetReader>(new WebDatasetReader(std::move(tar), std::move(load)));
}

absl::Status WebDatasetReader::AddMember(const std::string& extension) {
  pending_.extensions.insert(extension);
  if (!load_(pending_.position, extension)) return absl::OkStatus();
  ASSIGN_OR_RETURN(pending_.data[extension],
                   tar_->ReadData(extension == "json" ? kMaxJsonBytes : kMaxImageBytes));
  return absl::OkStatus();
}

absl::StatusOr<bool> WebDatasetReader::Next(Sample* sample) {
  while (!done_) {
    absl::StatusOr<bool> more = tar_->Next();
    if (!more.ok()) {
      done_ = true;
      has_pending_ = false;  // a sample cut by the corruption is not returned
      return more.status();
    }
    if (!*more) {
      done_ = true;
      break;
    }
    std::string key, extension;
    SplitMemberName(tar_->name(), &key, &extension);
    if (has_pending_ && key == pending_.key) {
      RETURN_IF_ERROR(AddMember(extension));
      continue;
    }
    // A new key: the pending sample is complete.
    Sample finished = std::move(pending_);
    const bool had = has_pending_;
    pending_ = Sample();
    pending_.key = key;
    pending_.position = next_position_++;
    has_pending_ = true;
    RETURN_IF_ERROR(AddMember(extension));
    if (had) {
      *sample = std::move(finished);
      return true;
    }
  }
  if (!has_pending_) return false;
  *sample = std::move(pending_);
  has_pending_ = false;
  return true;
}

absl::StatusOr<InputIndex> IndexWebDataset(const std::string& input) {
  InputIndex index;
  index.format = PrepareFormat::kWebDataset;
  ASSIGN_OR_RETURN(index.sources, ResolveShards(input));
  for (size_t s = 0; s < index.sources.size(); ++s) {
    const std::string& path = index.sources[s];
    const std::string shard_name = fs::path(path).filename().string();
    ASSIGN_OR_RETURN(std::unique_ptr<WebDatasetReader> reader,
                     WebDatasetReader::Open(path, [](int64_t, const std::string& ext) { return ext == "json"; }));
    Sample sample;
    while (true) {
      absl::StatusOr<bool> more = reader->Next(&sample);
      if (!more.ok()) {
        // The rest of this shard is unreadable; its samples are unknown, so the
        // shard counts as one failed item.
        ItemProblem problem{-1, shard_name, reason::kCorruptArchive, std::string(more.status().message())};
        ++index.total;
        index.rejected.push_back(std::move(problem));
        break;
      }
      if (!*more) break;
      PairItem item;
      item.id = index.total;
      item.source = static_cast<int32_t>(s);
      item.position = sample.position;
      item.where = absl::StrCat(shard_name, ":", sample.key);
      item.image_0 = absl::StrCat(sample.key, ".jpg_0");
      item.image_1 = absl::StrCat(sample.key, ".jpg_1");
      ItemProblem problem;
      ItemFields fields;
      bool ok = false;
      if (sample.data.count("json") == 0) {
        problem.reason = reason::kMissingField;
        problem.detail = "no json member";
      } else if (ParseItemFields(sample.data["json"], /*with_image_paths=*/false, &fields, &problem)) {
        ok = true;
        // A tie is dropped whatever its images (the reference filters ties first).
        const bool tie = ClassifyLabel(fields.label_0) == Label::kTie;
        for (const char* ext : {"jpg_0", "jpg_1"}) {
          if (tie) break;
          if (sample.extensions.count(ext) == 0 && ok) {
            problem.reason = reason::kMissingImage;
            problem.detail = absl::StrCat("no ", ext, " member");
            ok = false;
          }
        }
      }
      FileItem(index, std::move(item), ok ? &fields : nullptr, &problem);
    }
  }
  return index;
}

}  // namespace align::prepare
