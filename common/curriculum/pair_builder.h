#pragma once
// Curriculum DPO's pairs (docs/curriculum.md): per prompt, the scored
// candidates are ranked, every two candidates whose scores differ by more than
// a near-tie threshold become a pair (the better one preferred), and each pair
// gets its difficulty from how far apart the two are: the rank gap (the
// paper: candidates far apart in rank make easy pairs) or the score gap (the
// authors' code: |score_w - score_l|). Larger difficulty = harder, as prepared
// datasets store it. With stages > 1 the difficulty becomes the pair's stage,
// 0 (easiest) to stages - 1, from bins of equal count or of equal width over
// the gap. A pure function of its input: every rank and the coordinator
// compute the same pairs.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "common/job_spec.h"

namespace align::curriculum {

// One scored image of a prompt.
struct Candidate {
  int64_t sample_id = 0;  // unique in the job; ties in score are broken by it
  double score = 0;
};

struct PromptCandidates {
  int64_t prompt_index = 0;
  std::vector<Candidate> candidates;
};

struct PairingOptions {
  CurriculumDifficulty difficulty = CurriculumDifficulty::kRankGap;
  double tie_threshold = 0;          // score gaps <= this make no pair
  int64_t max_pairs_per_prompt = 0;  // 0: all; else the easiest (largest gap) of each prompt
  int64_t stages = 1;
  StageBinning binning = StageBinning::kEqualCount;
};

struct PlannedPair {
  int64_t pair_id = 0;  // position in the returned list
  int64_t prompt_index = 0;
  int64_t preferred = 0;  // sample ids
  int64_t rejected = 0;
  double score_w = 0, score_l = 0;
  int64_t rank_gap = 0;  // rank(rejected) - rank(preferred), >= 1
  double score_gap = 0;  // score_w - score_l, > tie_threshold
  int64_t stage = 0;     // 0 when stages == 1
  float difficulty = 0;  // -gap, or the stage when stages > 1
};

// Pairs in prompt order, then by (rank of preferred, rank of rejected).
// InvalidArgument for a non-finite score, a repeated sample id, or a prompt
// with fewer than two candidates (naming it: pairs need samples_per_prompt >= 2).
absl::StatusOr<std::vector<PlannedPair>> BuildPairs(const std::vector<PromptCandidates>& prompts,
                                                    const PairingOptions& options);

}  // namespace align::curriculum
