#include "common/prepare/prepare_state.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/run_fingerprint.h"

namespace align::prepare {

uint64_t PlanFingerprint(const JobSpec& spec, const InputIndex& index, const WorkPlan& plan) {
  Fingerprint h(0x70726570);  // "prep"
  const PrepareSpec& p = *spec.prepare;
  h.Add(spec.model);
  h.Add(spec.seed);
  h.Add(static_cast<uint64_t>(p.format));
  h.Add(static_cast<uint64_t>(p.resolution));
  h.Add(static_cast<uint64_t>(p.center_crop));
  h.Add(static_cast<uint64_t>(p.random_flip));
  h.Add(static_cast<uint64_t>(p.latent));
  h.Add(static_cast<uint64_t>(p.dtype));
  // Only when not the default, so fingerprints of earlier runs still match.
  if (p.micro_conditioning == MicroConditioning::kConstant) h.Add(std::string("micro_conditioning: constant"));
  if (p.flip_per_step) h.Add(std::string("random_flip: per_step"));
  if (p.flip_images == data::FlipImages::kEach) h.Add(std::string("flip_images: each"));
  if (p.crop_variants > 1) h.Add(absl::StrCat("crop_variants: ", p.crop_variants));
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
  return RunFingerprintMatches(state_dir, fingerprint);
}

absl::Status CheckOrWritePlanState(const std::string& state_dir, uint64_t fingerprint, const WorkPlan& plan) {
  return CheckOrWriteRunFingerprint(
      state_dir, fingerprint, "prepare",
      {{"chunks", plan.chunks.size()}, {"train_items", plan.train_items}, {"heldout_items", plan.heldout_items}});
}

}  // namespace align::prepare
