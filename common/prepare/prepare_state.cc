#include "common/prepare/prepare_state.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/file_util.h"
#include "common/random.h"
#include "nlohmann/json.hpp"

namespace align::prepare {
namespace {

class Hasher {
 public:
  void Add(uint64_t v) { h_ = Mix64(h_ ^ Mix64(v + 0x5bd1e995)); }
  void Add(const std::string& s) {
    Add(static_cast<uint64_t>(s.size()));
    for (unsigned char c : s) Add(static_cast<uint64_t>(c));
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0x70726570;  // "prep"
};

}  // namespace

uint64_t PlanFingerprint(const JobSpec& spec, const InputIndex& index, const WorkPlan& plan) {
  Hasher h;
  const PrepareSpec& p = *spec.prepare;
  h.Add(spec.model);
  h.Add(spec.seed);
  h.Add(static_cast<uint64_t>(p.format));
  h.Add(static_cast<uint64_t>(p.resolution));
  h.Add(static_cast<uint64_t>(p.center_crop));
  h.Add(static_cast<uint64_t>(p.random_flip));
  h.Add(static_cast<uint64_t>(p.latent));
  h.Add(static_cast<uint64_t>(p.dtype));
  for (const std::string& source : index.sources) h.Add(source);
  for (const PairItem& item : index.items) {
    h.Add(static_cast<uint64_t>(item.id));
    h.Add(item.caption);
    h.Add(item.image_0);
    h.Add(item.image_1);
    h.Add(static_cast<uint64_t>(item.swap));
  }
  for (const WorkChunk& chunk : plan.chunks) {
    h.Add(chunk.ShardFile());
    for (int64_t i : chunk.items) h.Add(static_cast<uint64_t>(i));
  }
  return h.value();
}

bool PlanStateMatches(const std::string& state_dir, uint64_t fingerprint) {
  absl::StatusOr<std::string> text = ReadFileToString(absl::StrCat(state_dir, "/plan.json"));
  if (!text.ok()) return false;
  const nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
  return !j.is_discarded() && j.is_object() && j.value("fingerprint", "") == absl::StrFormat("%016x", fingerprint);
}

absl::Status CheckOrWritePlanState(const std::string& state_dir, uint64_t fingerprint, const WorkPlan& plan) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", state_dir, ": ", ec.message()));
  const std::string path = absl::StrCat(state_dir, "/plan.json");
  const std::string hex = absl::StrFormat("%016x", fingerprint);
  absl::StatusOr<std::string> existing = ReadFileToString(path);
  if (existing.ok()) {
    const nlohmann::json j = nlohmann::json::parse(*existing, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.value("fingerprint", "") == hex) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        path, " belongs to a prepare run with different input or options; resume it with the same spec, or "
              "remove ", state_dir, " (and the partial dataset) to start over"));
  }
  const nlohmann::json j = {{"fingerprint", hex},
                            {"chunks", plan.chunks.size()},
                            {"train_items", plan.train_items},
                            {"heldout_items", plan.heldout_items}};
  return WriteFileAtomically(path, j.dump(1) + "\n");
}

}  // namespace align::prepare
