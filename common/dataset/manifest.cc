#include "common/dataset/manifest.h"

#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_macros.h"

namespace align::data {
namespace {

using json = nlohmann::json;

absl::Status Invalid(const std::string& what, absl::string_view key, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(what, ": ", key, ": ", problem));
}

// Unknown keys are errors: a newer writer's field that this reader would
// silently drop must instead make the reader refuse the dataset.
absl::Status CheckKeys(const json& object, const std::string& what, absl::string_view where,
                       const std::set<std::string>& known) {
  for (const auto& [key, value] : object.items()) {
    if (known.count(key) == 0) {
      return Invalid(what, where.empty() ? key : absl::StrCat(where, ".", key),
                     absl::StrCat("unknown field (known: ", absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

// `where` is the key's path in messages, e.g. "splits.train.pairs".
absl::StatusOr<int64_t> GetInt(const json& object, const std::string& what, const std::string& key,
                               const std::string& where, int64_t min, int64_t max) {
  auto it = object.find(key);
  if (it == object.end()) return Invalid(what, where, "missing");
  if (!it->is_number_integer()) return Invalid(what, where, "expected an integer");
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(max)) {
    return Invalid(what, where, absl::StrCat("too large: ", it->dump()));
  }
  const int64_t value = it->get<int64_t>();
  if (value < min || value > max) {
    return Invalid(what, where, absl::StrCat("must be in [", min, ", ", max, "], got ", value));
  }
  return value;
}

// Dimensions stay far enough below 2^63 that products of them cannot overflow.
constexpr int64_t kMaxDim = int64_t{1} << 20;
constexpr int64_t kMaxPairs = int64_t{1} << 40;

bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
}

absl::StatusOr<SplitEntry> ParseSplit(const json& object, const std::string& what, const std::string& where,
                                      std::set<std::string>& files) {
  if (!object.is_object()) return Invalid(what, where, "expected an object");
  RETURN_IF_ERROR(CheckKeys(object, what, where, {"pairs", "shards"}));
  SplitEntry split;
  ASSIGN_OR_RETURN(split.pairs, GetInt(object, what, "pairs", where + ".pairs", 0, kMaxPairs));
  auto shards = object.find("shards");
  if (shards == object.end() || !shards->is_array()) {
    return Invalid(what, where + ".shards", "expected an array");
  }
  int64_t total = 0;
  for (size_t i = 0; i < shards->size(); ++i) {
    const std::string at = absl::StrCat(where, ".shards[", i, "]");
    const json& shard = (*shards)[i];
    if (!shard.is_object()) return Invalid(what, at, "expected an object");
    RETURN_IF_ERROR(CheckKeys(shard, what, at, {"file", "pairs"}));
    ShardEntry entry;
    auto file = shard.find("file");
    if (file == shard.end() || !file->is_string() || !IsPlainFileName(file->get<std::string>())) {
      return Invalid(what, at + ".file", "expected a file name inside the dataset directory");
    }
    entry.file = file->get<std::string>();
    if (!files.insert(entry.file).second) {
      return Invalid(what, at + ".file", absl::StrCat(entry.file, " is listed twice"));
    }
    ASSIGN_OR_RETURN(entry.pairs, GetInt(shard, what, "pairs", at + ".pairs", 1, kMaxPairs));
    total += entry.pairs;
    split.shards.push_back(std::move(entry));
  }
  if (total != split.pairs) {
    return Invalid(what, where + ".pairs",
                   absl::StrCat(split.pairs, " but its shards hold ", total, " pairs"));
  }
  return split;
}

}  // namespace

absl::string_view Manifest::format() const {
  return crop_variants > 1 || flip_images != FlipImages::kTogether ? kFormatV2 : kFormat;
}

bool IsValidSplitName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

std::string ShardFileName(const std::string& split, int64_t index) {
  return absl::StrFormat("%s-%05d.safetensors", split, index);
}

absl::StatusOr<Manifest> ParseManifest(const std::string& json_text, const std::string& what) {
  json root = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(what, ": not valid JSON"));
  if (!root.is_object()) return absl::InvalidArgumentError(absl::StrCat(what, ": expected a JSON object"));
  RETURN_IF_ERROR(
      CheckKeys(root, what, "", {"format", "shape", "splits", "has_difficulty", "has_scores", "has_flipped_latents",
                             "has_latent_logvar", "flip_images", "crop_variants", "source"}));

  auto format = root.find("format");
  if (format == root.end() || !format->is_string() ||
      (format->get<std::string>() != kFormat && format->get<std::string>() != kFormatV2)) {
    return Invalid(what, "format",
                   absl::StrCat("expected \"", kFormat, "\" or \"", kFormatV2, "\", got ",
                                format == root.end() ? "nothing" : format->dump()));
  }

  Manifest manifest;
  auto shape = root.find("shape");
  if (shape == root.end() || !shape->is_object()) return Invalid(what, "shape", "expected an object");
  RETURN_IF_ERROR(
      CheckKeys(*shape, what, "shape",
                {"latent_channels", "latent_height", "latent_width", "tokens", "context_dim", "pooled_dim"}));
  const auto dim = [&](const std::string& key, int64_t min) {
    return GetInt(*shape, what, key, "shape." + key, min, kMaxDim);
  };
  ASSIGN_OR_RETURN(manifest.shape.latent_channels, dim("latent_channels", 1));
  ASSIGN_OR_RETURN(manifest.shape.latent_height, dim("latent_height", 1));
  ASSIGN_OR_RETURN(manifest.shape.latent_width, dim("latent_width", 1));
  ASSIGN_OR_RETURN(manifest.shape.tokens, dim("tokens", 1));
  ASSIGN_OR_RETURN(manifest.shape.context_dim, dim("context_dim", 1));
  ASSIGN_OR_RETURN(manifest.shape.pooled_dim, dim("pooled_dim", 0));

  auto splits = root.find("splits");
  if (splits == root.end() || !splits->is_object()) return Invalid(what, "splits", "expected an object");
  std::set<std::string> files;
  for (const auto& [name, split] : splits->items()) {
    if (!IsValidSplitName(name)) {
      return Invalid(what, "splits", absl::StrCat("bad split name \"", name, "\" (expected [A-Za-z0-9_]+)"));
    }
    ASSIGN_OR_RETURN(manifest.splits[name], ParseSplit(split, what, "splits." + name, files));
  }

  for (const auto& [key, field] : {std::pair{"has_difficulty", &manifest.has_difficulty},
                                   std::pair{"has_scores", &manifest.has_scores},
                                   std::pair{"has_flipped_latents", &manifest.has_flipped_latents},
                                   std::pair{"has_latent_logvar", &manifest.has_latent_logvar}}) {
    auto it = root.find(key);
    if (it == root.end()) continue;
    if (!it->is_boolean()) return Invalid(what, key, "expected true or false");
    *field = it->get<bool>();
  }
  if (auto flip = root.find("flip_images"); flip != root.end()) {
    const std::optional<FlipImages> parsed =
        flip->is_string() ? ParseFlipImages(flip->get<std::string>()) : std::nullopt;
    if (!parsed) return Invalid(what, "flip_images", "expected \"together\" or \"each\"");
    if (!manifest.has_flipped_latents) return Invalid(what, "flip_images", "needs has_flipped_latents");
    manifest.flip_images = *parsed;
  }
  if (root.contains("crop_variants")) {
    ASSIGN_OR_RETURN(manifest.crop_variants,
                     GetInt(root, what, "crop_variants", "crop_variants", 1, kMaxCropVariants));
  }
  // The version is the oldest that describes the dataset: /1 cannot carry the
  // /2 keys, and /2 names a dataset that uses one of them.
  if (format->get<std::string>() != manifest.format()) {
    return Invalid(what, "format",
                   absl::StrCat("is ", format->dump(), " but the manifest ",
                                manifest.format() == kFormat
                                    ? "uses nothing of align-pairs/2 (crop_variants > 1 or flip_images: each)"
                                    : "uses crop_variants > 1 or flip_images: each, which need align-pairs/2"));
  }
  auto source = root.find("source");
  if (source != root.end()) {
    if (!source->is_object()) return Invalid(what, "source", "expected an object");
    manifest.source = *source;
  }
  return manifest;
}

std::string SerializeManifest(const Manifest& manifest) {
  json root = json::object();  // std::map-backed: keys sorted, output stable
  root["format"] = std::string(manifest.format());
  const PairShape& s = manifest.shape;
  root["shape"] = {{"latent_channels", s.latent_channels}, {"latent_height", s.latent_height},
                   {"latent_width", s.latent_width},       {"tokens", s.tokens},
                   {"context_dim", s.context_dim},         {"pooled_dim", s.pooled_dim}};
  json splits = json::object();
  for (const auto& [name, split] : manifest.splits) {
    json shards = json::array();
    for (const ShardEntry& shard : split.shards) {
      shards.push_back({{"file", shard.file}, {"pairs", shard.pairs}});
    }
    splits[name] = {{"pairs", split.pairs}, {"shards", std::move(shards)}};
  }
  root["splits"] = std::move(splits);
  root["has_difficulty"] = manifest.has_difficulty;
  root["has_scores"] = manifest.has_scores;
  // Written only when set: a dataset without them keeps the bytes it always had.
  if (manifest.has_flipped_latents) root["has_flipped_latents"] = true;
  if (manifest.has_latent_logvar) root["has_latent_logvar"] = true;
  if (manifest.flip_images != FlipImages::kTogether) {
    root["flip_images"] = std::string(FlipImagesName(manifest.flip_images));
  }
  if (manifest.crop_variants > 1) root["crop_variants"] = manifest.crop_variants;
  root["source"] = manifest.source.is_object() ? manifest.source : json::object();
  return root.dump(2) + "\n";
}

absl::StatusOr<Manifest> LoadManifest(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kManifestFile);
  ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseManifest(text, path);
}

}  // namespace align::data
