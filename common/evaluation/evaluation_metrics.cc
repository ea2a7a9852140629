#include "common/evaluation/evaluation_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"

namespace align::evaluation {
namespace {

double Norm(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

// Sum over a prompt's K pairs of w(candidate, base).
double PromptWins(const std::vector<double>& candidate, const std::vector<double>& base) {
  double wins = 0;
  for (size_t k = 0; k < candidate.size(); ++k) {
    wins += candidate[k] > base[k] ? 1.0 : candidate[k] == base[k] ? 0.5 : 0.0;
  }
  return wins;
}

}  // namespace

std::vector<std::vector<int64_t>> BootstrapDraws(int64_t prompts, const BootstrapOptions& bootstrap) {
  std::vector<std::vector<int64_t>> draws(static_cast<size_t>(std::max<int64_t>(bootstrap.resamples, 0)));
  if (prompts <= 0) return draws;
  CounterRng rng(DeriveSeed(bootstrap.seed, {kBootstrapStream}));
  for (std::vector<int64_t>& row : draws) {
    row.resize(static_cast<size_t>(prompts));
    for (int64_t& p : row) p = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(prompts)));
  }
  return draws;
}

double Quantile(std::vector<double> values, double q) {
  std::sort(values.begin(), values.end());
  const double h = q * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(h));
  if (lo + 1 >= values.size()) return values.back();
  return values[lo] + (h - static_cast<double>(lo)) * (values[lo + 1] - values[lo]);
}

double MeanPairwiseCosineDistance(const std::vector<std::vector<float>>& embeddings) {
  const size_t n = embeddings.size();
  if (n < 2) return 0;
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      double dot = 0;
      for (size_t d = 0; d < embeddings[i].size(); ++d) dot += static_cast<double>(embeddings[i][d]) * embeddings[j][d];
      sum += 1.0 - dot / (Norm(embeddings[i]) * Norm(embeddings[j]));
    }
  }
  return sum / (static_cast<double>(n) * static_cast<double>(n - 1) / 2.0);
}

absl::StatusOr<EvaluationFigures> ComputeFigures(const EvaluationData& data, const BootstrapOptions& bootstrap) {
  const auto num_checkpoints = static_cast<int64_t>(data.checkpoints.size());
  const auto num_rewards = data.rewards.size();
  const int64_t P = data.prompts, K = data.seeds;
  if (num_checkpoints == 0 || num_rewards == 0 || P <= 0 || K <= 0 || data.base < 0 || data.base >= num_checkpoints) {
    return absl::InvalidArgumentError("an evaluation needs checkpoints, rewards, prompts, seeds and a base among them");
  }
  // Dense [checkpoint][prompt][seed] -> the record's position.
  std::vector<int64_t> slot(static_cast<size_t>(num_checkpoints * P * K), -1);
  size_t embedding_size = 0;
  for (size_t i = 0; i < data.images.size(); ++i) {
    const ImageRecord& r = data.images[i];
    const std::string which = absl::StrCat("image of checkpoint #", r.checkpoint, ", prompt ", r.prompt, ", seed ", r.seed);
    if (r.checkpoint < 0 || r.checkpoint >= num_checkpoints || r.prompt < 0 || r.prompt >= P || r.seed < 0 ||
        r.seed >= K) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": outside the evaluation"));
    }
    if (r.scores.size() != num_rewards) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": ", r.scores.size(), " scores for ", num_rewards, " rewards"));
    }
    for (double s : r.scores) {
      if (!std::isfinite(s)) return absl::InvalidArgumentError(absl::StrCat(which, ": a score is not finite"));
    }
    if (i == 0) embedding_size = r.embedding.size();
    if (r.embedding.size() != embedding_size || embedding_size == 0 || !(Norm(r.embedding) > 0)) {
      return absl::InvalidArgumentError(absl::StrCat(which, ": its embedding is empty, of norm 0 or of another size"));
    }
    int64_t& at = slot[static_cast<size_t>((r.checkpoint * P + r.prompt) * K + r.seed)];
    if (at >= 0) return absl::InvalidArgumentError(absl::StrCat(which, ": recorded twice"));
    at = static_cast<int64_t>(i);
  }
  for (size_t s = 0; s < slot.size(); ++s) {
    if (slot[s] < 0) {
      const auto n = static_cast<int64_t>(s);
      return absl::InvalidArgumentError(absl::StrCat("no image of checkpoint \"", data.checkpoints[n / (P * K)],
                                                     "\", prompt ", (n / K) % P, ", seed ", n % K));
    }
  }
  const auto record = [&](int64_t c, int64_t p, int64_t k) -> const ImageRecord& {
    return data.images[static_cast<size_t>(slot[static_cast<size_t>((c * P + p) * K + k)])];
  };
  // scores[c][r][p] = the K scores of prompt p.
  std::vector<std::vector<std::vector<std::vector<double>>>> scores(
      num_checkpoints, std::vector<std::vector<std::vector<double>>>(num_rewards, std::vector<std::vector<double>>(P)));
  for (int64_t c = 0; c < num_checkpoints; ++c) {
    for (int64_t p = 0; p < P; ++p) {
      for (int64_t k = 0; k < K; ++k) {
        for (size_t r = 0; r < num_rewards; ++r) scores[c][r][p].push_back(record(c, p, k).scores[r]);
      }
    }
  }
  const std::vector<std::vector<int64_t>> draws = BootstrapDraws(P, bootstrap);

  EvaluationFigures figures;
  figures.rewards = data.rewards;
  figures.prompts = P;
  figures.seeds = K;
  figures.bootstrap = bootstrap;
  const double N = static_cast<double>(P * K);
  for (int64_t c = 0; c < num_checkpoints; ++c) {
    CheckpointFigures cf;
    cf.name = data.checkpoints[c];
    cf.is_base = c == data.base;
    for (size_t r = 0; r < num_rewards; ++r) {
      RewardFigures rf;
      double sum = 0;
      for (const std::vector<double>& prompt : scores[c][r]) {
        for (double s : prompt) sum += s;
      }
      rf.mean = sum / N;
      double squares = 0, prompt_variances = 0;
      std::vector<double> prompt_wins(static_cast<size_t>(P));
      for (int64_t p = 0; p < P; ++p) {
        const std::vector<double>& v = scores[c][r][p];
        double prompt_mean = 0;
        for (double s : v) prompt_mean += s;
        prompt_mean /= static_cast<double>(K);
        double prompt_squares = 0;
        for (double s : v) {
          squares += (s - rf.mean) * (s - rf.mean);
          prompt_squares += (s - prompt_mean) * (s - prompt_mean);
        }
        prompt_variances += prompt_squares / static_cast<double>(K);
        prompt_wins[p] = PromptWins(v, scores[data.base][r][p]);
      }
      rf.std = std::sqrt(squares / N);
      rf.prompt_variance = prompt_variances / static_cast<double>(P);
      double wins = 0;
      for (double w : prompt_wins) wins += w;
      rf.win_rate = wins / N;
      if (!draws.empty()) {
        std::vector<double> resampled;
        resampled.reserve(draws.size());
        for (const std::vector<int64_t>& row : draws) {
          double w = 0;
          for (int64_t p : row) w += prompt_wins[p];
          resampled.push_back(w / N);
        }
        rf.win_rate_ci_low = Quantile(resampled, 0.025);
        rf.win_rate_ci_high = Quantile(resampled, 0.975);
      }
      cf.rewards.push_back(rf);
    }
    if (K >= 2) {
      double diversity = 0;
      for (int64_t p = 0; p < P; ++p) {
        std::vector<std::vector<float>> embeddings;
        for (int64_t k = 0; k < K; ++k) embeddings.push_back(record(c, p, k).embedding);
        diversity += MeanPairwiseCosineDistance(embeddings);
      }
      cf.diversity = diversity / static_cast<double>(P);
    }
    figures.checkpoints.push_back(std::move(cf));
  }
  return figures;
}

}  // namespace align::evaluation
