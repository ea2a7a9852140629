#include "common/prepare/chunk_source.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace align::prepare {
namespace {

const char* DecodeReason(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kDataLoss:
      return reason::kCorruptImage;
    case absl::StatusCode::kInvalidArgument:
      return reason::kUnsupportedImage;
    default:
      return reason::kUnreadableImage;
  }
}

}  // namespace

ChunkSource::ChunkSource(const InputIndex& index, const WorkChunk& chunk, const ConditioningOptions& options,
                         const imaging::DecodeLimits& limits)
    : index_(index), chunk_(chunk), options_(options), limits_(limits) {}

bool ChunkSource::LoadFromTar(const PairItem& item, std::string* bytes_0, std::string* bytes_1,
                              ItemProblem* problem) {
  const auto fail = [&](const char* why, std::string detail) {
    problem->reason = why;
    problem->detail = std::move(detail);
    return false;
  };
  if (item.source != open_source_) {
    wanted_.clear();
    for (size_t i = next_ - 1; i < chunk_.items.size(); ++i) {
      const PairItem& other = index_.items[chunk_.items[i]];
      if (other.source == item.source) wanted_.insert(other.position);
    }
    const std::set<int64_t>* wanted = &wanted_;
    absl::StatusOr<std::unique_ptr<WebDatasetReader>> reader = WebDatasetReader::Open(
        index_.sources[item.source], [wanted](int64_t position, const std::string& ext) {
          return (ext == "jpg_0" || ext == "jpg_1") && wanted->count(position) != 0;
        });
    if (!reader.ok()) return fail(reason::kUnreadableImage, std::string(reader.status().message()));
    reader_ = std::move(*reader);
    open_source_ = item.source;
  }
  Sample sample;
  while (true) {
    absl::StatusOr<bool> more = reader_->Next(&sample);
    if (!more.ok() || !*more) {
      open_source_ = -1;  // the reader cannot go on; a later item reopens the shard
      return fail(reason::kUnreadableImage,
                  more.ok() ? "sample not found in its shard (the shard changed after indexing?)"
                            : std::string(more.status().message()));
    }
    if (sample.position == item.position) break;
    if (sample.position > item.position) {
      open_source_ = -1;
      return fail(reason::kUnreadableImage, "sample order differs from the index");
    }
  }
  for (const auto& [ext, out] : {std::pair{"jpg_0", bytes_0}, std::pair{"jpg_1", bytes_1}}) {
    auto it = sample.data.find(ext);
    if (it == sample.data.end()) return fail(reason::kMissingImage, absl::StrCat("no ", ext, " member"));
    *out = std::move(it->second);
  }
  return true;
}

bool ChunkSource::LoadBytes(const PairItem& item, std::string* bytes_0, std::string* bytes_1,
                            ItemProblem* problem) {
  if (index_.format == PrepareFormat::kWebDataset) return LoadFromTar(item, bytes_0, bytes_1, problem);
  for (const auto& [path, out] : {std::pair{&item.image_0, bytes_0}, std::pair{&item.image_1, bytes_1}}) {
    absl::StatusOr<std::string> bytes = ReadFileToString(*path);
    if (!bytes.ok()) {
      problem->reason = bytes.status().code() == absl::StatusCode::kNotFound ? reason::kMissingImage
                                                                              : reason::kUnreadableImage;
      problem->detail = std::string(bytes.status().message());
      return false;
    }
    *out = std::move(*bytes);
  }
  return true;
}

bool ChunkSource::Next(PreparedItem* out) {
  if (next_ >= chunk_.items.size()) return false;
  const PairItem& item = index_.items[chunk_.items[next_++]];
  *out = PreparedItem();
  out->item = &item;
  out->problem.id = item.id;
  out->problem.where = item.where;

  std::string bytes[2];
  if (!LoadBytes(item, &bytes[0], &bytes[1], &out->problem)) return true;
  imaging::RgbImage images[2];
  const std::string* names[2] = {&item.image_0, &item.image_1};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<imaging::RgbImage> image = imaging::DecodeImage(bytes[i], *names[i], limits_);
    if (!image.ok()) {
      out->problem.reason = DecodeReason(image.status());
      out->problem.detail = std::string(image.status().message());
      return true;
    }
    const int lo = std::min(image->width, image->height), hi = std::max(image->width, image->height);
    if (hi > kMaxAspectRatio * lo) {
      out->problem.reason = reason::kUnsupportedImage;
      out->problem.detail = absl::StrCat(*names[i], ": ", image->width, "x", image->height,
                                         " exceeds the aspect-ratio limit of ", kMaxAspectRatio, ":1");
      return true;
    }
    images[i] = std::move(*image);
  }
  out->pair = ConditionPair(images[0], images[1], item.swap, item.id, options_);
  out->ok = true;
  return true;
}

}  // namespace align::prepare
