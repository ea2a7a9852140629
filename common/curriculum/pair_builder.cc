#include "common/curriculum/pair_builder.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace align::curriculum {
namespace {

double GapOf(const PlannedPair& pair, CurriculumDifficulty difficulty) {
  return difficulty == CurriculumDifficulty::kRankGap ? static_cast<double>(pair.rank_gap) : pair.score_gap;
}

// Stage per pair (0 easiest = largest gap).
void AssignStages(std::vector<PlannedPair>& pairs, const PairingOptions& options) {
  const int64_t stages = options.stages;
  if (stages <= 1 || pairs.empty()) return;
  if (options.binning == StageBinning::kEqualCount) {
    // Easy to hard by gap (ties by pair id), then cut into `stages` runs of
    // equal length (the first ones one longer when it does not divide).
    std::vector<size_t> order(pairs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return GapOf(pairs[a], options.difficulty) > GapOf(pairs[b], options.difficulty);
    });
    const int64_t n = static_cast<int64_t>(pairs.size());
    for (int64_t position = 0; position < n; ++position) {
      pairs[order[position]].stage = position * stages / n;
    }
    return;
  }
  // Equal width: the gap range [lo, hi] cut into `stages` bins, the widest
  // gaps first; all gaps equal put every pair in stage 0.
  double lo = GapOf(pairs.front(), options.difficulty), hi = lo;
  for (const PlannedPair& pair : pairs) {
    lo = std::min(lo, GapOf(pair, options.difficulty));
    hi = std::max(hi, GapOf(pair, options.difficulty));
  }
  if (hi <= lo) return;
  const double width = (hi - lo) / static_cast<double>(stages);
  for (PlannedPair& pair : pairs) {
    const auto from_top = static_cast<int64_t>(std::floor((hi - GapOf(pair, options.difficulty)) / width));
    pair.stage = std::min<int64_t>(stages - 1, std::max<int64_t>(0, from_top));
  }
}

}  // namespace

absl::StatusOr<std::vector<PlannedPair>> BuildPairs(const std::vector<PromptCandidates>& prompts,
                                                    const PairingOptions& options) {
  std::vector<PlannedPair> pairs;
  std::set<int64_t> seen;
  for (const PromptCandidates& prompt : prompts) {
    if (prompt.candidates.size() < 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt ", prompt.prompt_index, " has ", prompt.candidates.size(),
          " scored image(s); pairs need at least 2 per prompt (generate.samples_per_prompt >= 2)"));
    }
    std::vector<Candidate> ranked = prompt.candidates;
    for (const Candidate& c : ranked) {
      if (!std::isfinite(c.score)) {
        return absl::InvalidArgumentError(
            absl::StrCat("sample ", c.sample_id, " of prompt ", prompt.prompt_index, " has a non-finite score"));
      }
      if (!seen.insert(c.sample_id).second) {
        return absl::InvalidArgumentError(absl::StrCat("sample ", c.sample_id, " is scored twice"));
      }
    }
    // Best first; equal scores keep sample order, so ranks are reproducible.
    std::stable_sort(ranked.begin(), ranked.end(), [](const Candidate& a, const Candidate& b) {
      return a.score > b.score || (a.score == b.score && a.sample_id < b.sample_id);
    });
    std::vector<PlannedPair> of_prompt;
    for (size_t i = 0; i < ranked.size(); ++i) {
      for (size_t j = i + 1; j < ranked.size(); ++j) {
        const double gap = ranked[i].score - ranked[j].score;
        if (gap <= options.tie_threshold) continue;
        PlannedPair pair;
        pair.prompt_index = prompt.prompt_index;
        pair.preferred = ranked[i].sample_id;
        pair.rejected = ranked[j].sample_id;
        pair.score_w = ranked[i].score;
        pair.score_l = ranked[j].score;
        pair.rank_gap = static_cast<int64_t>(j - i);
        pair.score_gap = gap;
        of_prompt.push_back(pair);
      }
    }
    if (options.max_pairs_per_prompt > 0 && static_cast<int64_t>(of_prompt.size()) > options.max_pairs_per_prompt) {
      // The easiest ones (largest gap), then back in rank order.
      std::vector<size_t> order(of_prompt.size());
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return GapOf(of_prompt[a], options.difficulty) > GapOf(of_prompt[b], options.difficulty);
      });
      order.resize(options.max_pairs_per_prompt);
      std::sort(order.begin(), order.end());
      std::vector<PlannedPair> kept;
      for (size_t k : order) kept.push_back(of_prompt[k]);
      of_prompt = std::move(kept);
    }
    pairs.insert(pairs.end(), of_prompt.begin(), of_prompt.end());
  }
  for (size_t k = 0; k < pairs.size(); ++k) pairs[k].pair_id = static_cast<int64_t>(k);
  AssignStages(pairs, options);
  for (PlannedPair& pair : pairs) {
    pair.difficulty = options.stages > 1 ? static_cast<float>(pair.stage)
                                         : static_cast<float>(-GapOf(pair, options.difficulty));
  }
  return pairs;
}

}  // namespace align::curriculum
