#include "worker/engine/losses.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace align::engine {
namespace {

constexpr int64_t kT = 1000;

torch::Tensor Vec(const std::vector<double>& v, torch::Dtype dtype = torch::kDouble) {
  return torch::tensor(v, torch::kDouble).to(dtype);
}

std::vector<double> ToVector(const torch::Tensor& t) {
  torch::Tensor d = t.detach().to(torch::kDouble).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

LossSpec Spec(LossType type, Divergence divergence = Divergence::kReverseKl, double beta = 0.7,
              double alpha = 0.5, double mapo_beta = 0.1) {
  LossSpec spec;
  spec.type = type;
  spec.divergence = divergence;
  spec.beta = beta;
  spec.alpha = alpha;
  spec.mapo_beta = mapo_beta;
  return spec;
}

std::unique_ptr<PreferenceLoss> Make(const LossSpec& spec, int64_t T = kT) {
  auto loss = MakeLoss(spec, T);
  EXPECT_TRUE(loss.ok()) << loss.status();
  return std::move(loss).value();
}

// ---- Independent double-precision reference, plain <cmath>. ----

double Softplus(double x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

double FPrime(Divergence d, double alpha, double log_u) {
  const double u = std::exp(log_u);
  switch (d) {
    case Divergence::kReverseKl:
      return std::log(u) + 1.0;
    case Divergence::kForwardKl:
      return -1.0 / u;
    case Divergence::kJensenShannon:
      return std::log(2.0 * u / (1.0 + u));
    case Divergence::kAlpha:
      return (1.0 - std::pow(u, -alpha)) / alpha;
    case Divergence::kHellinger:
      return (1.0 - std::pow(u, -0.5)) / 0.5;
  }
  return std::nan("");
}

double MapoS(double L) {
  const double x = 0.5 * L;
  return x == 0 ? 1.0 : x / std::expm1(x);
}

struct Pairs {
  std::vector<double> pw, pl, rw, rl;
};

// log u_w = {0.5, -1, 0, 2}, log u_l = {-1, 1.5, 0.5, -0.25} at T = 1000.
Pairs MixedPairs() {
  return {{0.100, 0.200, 0.300, 0.050},
          {0.250, 0.100, 0.400, 0.150},
          {0.101, 0.198, 0.300, 0.054},
          {0.248, 0.103, 0.401, 0.1495}};
}

PairErrors ToErrors(const Pairs& p, torch::Dtype dtype = torch::kDouble, bool requires_grad = false) {
  PairErrors e;
  e.policy_w = Vec(p.pw, dtype).requires_grad_(requires_grad);
  e.policy_l = Vec(p.pl, dtype).requires_grad_(requires_grad);
  e.reference_w = Vec(p.rw, dtype);
  e.reference_l = Vec(p.rl, dtype);
  return e;
}

std::vector<double> ExpectedZ(const Pairs& p, Divergence d, double alpha, double beta, int64_t T) {
  std::vector<double> z;
  for (size_t i = 0; i < p.pw.size(); ++i) {
    const double log_u_w = -(T / 2.0) * (p.pw[i] - p.rw[i]);
    const double log_u_l = -(T / 2.0) * (p.pl[i] - p.rl[i]);
    z.push_back(beta * (FPrime(d, alpha, log_u_w) - FPrime(d, alpha, log_u_l)));
  }
  return z;
}

double MeanSoftplusNeg(const std::vector<double>& z) {
  double sum = 0;
  for (double v : z) sum += Softplus(-v);
  return sum / z.size();
}

double Mean(const std::vector<double>& v) {
  double sum = 0;
  for (double x : v) sum += x;
  return sum / v.size();
}

struct LinkCase {
  Divergence divergence;
  double alpha;
};

const std::vector<LinkCase>& AllLinks() {
  static const std::vector<LinkCase> links = {{Divergence::kReverseKl, 0.5},     {Divergence::kForwardKl, 0.5},
                                              {Divergence::kJensenShannon, 0.5}, {Divergence::kAlpha, 0.3},
                                              {Divergence::kAlpha, 0.8},         {Divergence::kHellinger, 0.5}};
  return links;
}

std::vector<LossSpec> AllSpecs() {
  std::vector<LossSpec> specs = {Spec(LossType::kDpo), Spec(LossType::kMapo), Spec(LossType::kSft)};
  for (const LinkCase& link : AllLinks()) specs.push_back(Spec(LossType::kFdpo, link.divergence, 0.7, link.alpha));
  return specs;
}

// ---- Values ----

TEST(LossesTest, FdpoMatchesHandComputedValuesForEveryLink) {
  const Pairs p = MixedPairs();
  for (const LinkCase& link : AllLinks()) {
    SCOPED_TRACE(DivergenceName(link.divergence) + " alpha " + std::to_string(link.alpha));
    const double beta = 0.7;
    auto loss = Make(Spec(LossType::kFdpo, link.divergence, beta, link.alpha));
    LossOutput out = loss->Compute(ToErrors(p));
    const std::vector<double> z = ExpectedZ(p, link.divergence, link.alpha, beta, kT);
    const std::vector<double> got = ToVector(out.logits);
    ASSERT_EQ(got.size(), z.size());
    for (size_t i = 0; i < z.size(); ++i) EXPECT_NEAR(got[i], z[i], 1e-9 * (1 + std::abs(z[i])));
    EXPECT_NEAR(out.loss.item<double>(), MeanSoftplusNeg(z), 1e-10);
    EXPECT_NEAR(out.reward_margin, Mean(z), 1e-9);
    double acc = 0;
    for (double v : z) acc += v > 0 ? 1.0 : (v == 0 ? 0.5 : 0.0);
    EXPECT_DOUBLE_EQ(out.implicit_accuracy, acc / z.size());
    EXPECT_FALSE(out.logits.requires_grad());
    EXPECT_TRUE(loss->needs_reference());
  }
}

TEST(LossesTest, LinkDerivativeMatchesFPrimeOnBothSides) {
  const std::vector<double> log_u = {-30, -3, -0.5, 0, 0.25, 2, 30};
  for (const LinkCase& link : AllLinks()) {
    SCOPED_TRACE(DivergenceName(link.divergence));
    std::vector<double> got = ToVector(LinkDerivative(link.divergence, link.alpha, Vec(log_u)));
    for (size_t i = 0; i < log_u.size(); ++i) {
      const double want = FPrime(link.divergence, link.alpha, log_u[i]);
      EXPECT_NEAR(got[i], want, 1e-12 * (1 + std::abs(want))) << "log u " << log_u[i];
    }
  }
}

TEST(LossesTest, ImplicitLogRatioIsMinusHalfTTimesErrorGap) {
  std::vector<double> got = ToVector(ImplicitLogRatio(Vec({0.3, 0.1}), Vec({0.2, 0.1}), 1000));
  EXPECT_NEAR(got[0], -50.0, 1e-12);
  EXPECT_EQ(got[1], 0.0);
}

TEST(LossesTest, DpoEqualsReverseKlFdpoAndTheDiffusionDpoPaperFormula) {
  const Pairs p = MixedPairs();
  const double beta = 5.0;
  LossOutput dpo = Make(Spec(LossType::kDpo, Divergence::kForwardKl /*ignored*/, beta))->Compute(ToErrors(p));
  LossOutput fdpo = Make(Spec(LossType::kFdpo, Divergence::kReverseKl, beta))->Compute(ToErrors(p));
  EXPECT_EQ(dpo.loss.item<double>(), fdpo.loss.item<double>());
  EXPECT_TRUE(torch::equal(dpo.logits, fdpo.logits));

  // Diffusion-DPO (Wallace et al.): -log sigmoid(-(beta_dpo/2)((l_w^θ - l_w^ref) - (l_l^θ - l_l^ref))),
  // beta_dpo = beta * T = 5000.
  const double beta_dpo = beta * kT;
  double paper = 0;
  for (size_t i = 0; i < p.pw.size(); ++i) {
    const double inside = -(beta_dpo / 2) * ((p.pw[i] - p.rw[i]) - (p.pl[i] - p.rl[i]));
    paper += -std::log(1.0 / (1.0 + std::exp(-inside)));
  }
  paper /= p.pw.size();
  EXPECT_NEAR(dpo.loss.item<double>(), paper, 1e-9 * (1 + paper));
}

TEST(LossesTest, SmallAlphaApproachesReverseKlAndAlphaNearOneApproachesForwardKl) {
  const Pairs p = MixedPairs();
  auto logits = [&](Divergence d, double alpha) {
    return ToVector(Make(Spec(LossType::kFdpo, d, 0.7, alpha))->Compute(ToErrors(p)).logits);
  };
  const std::vector<double> rkl = logits(Divergence::kReverseKl, 0.5);
  const std::vector<double> a_small = logits(Divergence::kAlpha, 1e-4);
  const std::vector<double> fkl = logits(Divergence::kForwardKl, 0.5);
  const std::vector<double> a_one = logits(Divergence::kAlpha, 0.9999);
  for (size_t i = 0; i < rkl.size(); ++i) {
    EXPECT_NEAR(a_small[i], rkl[i], 2e-3);
    EXPECT_NEAR(a_one[i], fkl[i], 2e-3 * (1 + std::abs(fkl[i])));
  }
}

TEST(LossesTest, HellingerIsAlphaOneHalf) {
  const Pairs p = MixedPairs();
  LossOutput h = Make(Spec(LossType::kFdpo, Divergence::kHellinger, 0.7, /*alpha ignored*/ 0.9))->Compute(ToErrors(p));
  LossOutput a = Make(Spec(LossType::kFdpo, Divergence::kAlpha, 0.7, 0.5))->Compute(ToErrors(p));
  EXPECT_EQ(h.loss.item<double>(), a.loss.item<double>());
  EXPECT_TRUE(torch::equal(h.logits, a.logits));
}

TEST(LossesTest, ImplicitAccuracyCountsTiesAsHalfAndReportsMeanMargin) {
  // log u_w - log u_l per pair: +1, -1, 0 (policy == reference), 0 (w and l moved alike).
  Pairs p{{0.100, 0.100, 0.300, 0.200}, {0.100, 0.100, 0.400, 0.300},
          {0.102, 0.098, 0.300, 0.201}, {0.100, 0.100, 0.400, 0.301}};
  LossOutput out = Make(Spec(LossType::kDpo, Divergence::kReverseKl, 2.0))->Compute(ToErrors(p));
  std::vector<double> z = ToVector(out.logits);
  EXPECT_NEAR(z[0], 2.0, 1e-9);
  EXPECT_NEAR(z[1], -2.0, 1e-9);
  EXPECT_EQ(z[2], 0.0);
  EXPECT_NEAR(z[3], 0.0, 1e-9);
  // Force an exact tie for the fourth pair too.
  p.rw[3] = 0.200;
  p.rl[3] = 0.300;
  out = Make(Spec(LossType::kDpo, Divergence::kReverseKl, 2.0))->Compute(ToErrors(p));
  EXPECT_DOUBLE_EQ(out.implicit_accuracy, (1 + 0 + 0.5 + 0.5) / 4.0);
  EXPECT_NEAR(out.reward_margin, 0.0, 1e-9);

  p.pw[1] = 0.096;  // second pair now +1 too
  out = Make(Spec(LossType::kDpo, Divergence::kReverseKl, 2.0))->Compute(ToErrors(p));
  EXPECT_DOUBLE_EQ(out.implicit_accuracy, (1 + 1 + 0.5 + 0.5) / 4.0);
  EXPECT_NEAR(out.reward_margin, (2.0 + 2.0) / 4.0, 1e-9);
}

// ---- MaPO and SFT ----

TEST(LossesTest, MapoScoreIsOneAtZeroContinuousAndMatchesClosedForm) {
  EXPECT_EQ(MapoScore(Vec({0.0})).item<double>(), 1.0);
  EXPECT_EQ(MapoScore(Vec({0.0}, torch::kFloat)).item<float>(), 1.0f);
  // s(2) = 1 / (e - 1) (c L = 1).
  EXPECT_NEAR(MapoScore(Vec({2.0})).item<double>(), 1.0 / (std::exp(1.0) - 1.0), 1e-15);
  // Across the series / closed-form boundary (c L = 0.1 at L = 0.2) and far out.
  const std::vector<double> L = {1e-12, 1e-6, 1e-3, 0.199999, 0.2, 0.200001, 0.5, 3, 50, 1e3, 1e4,
                                 -1e-6, -0.2, -0.3, -5};
  std::vector<double> got = ToVector(MapoScore(Vec(L)));
  std::vector<double> got_f = ToVector(MapoScore(Vec(L, torch::kFloat)));
  for (size_t i = 0; i < L.size(); ++i) {
    EXPECT_NEAR(got[i], MapoS(L[i]), 5e-14 * (1 + MapoS(L[i]))) << "L " << L[i];
    EXPECT_NEAR(got_f[i], MapoS(L[i]), 1e-6) << "L " << L[i];
  }
  // The derivative at 0 is -c/2 = -0.25, not the 0/0 of the closed form.
  torch::Tensor zero = Vec({0.0}).requires_grad_(true);
  MapoScore(zero).sum().backward();
  EXPECT_NEAR(zero.grad().item<double>(), -0.25, 1e-15);
}

TEST(LossesTest, MapoScoreHasFiniteGradientsForHugeErrors) {
  // A diverged model: each branch must stay finite even where it is not selected.
  for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
    torch::Tensor L = Vec({0.0, 1e-30, 1e7, 1e30, -1e7}, dtype).requires_grad_(true);
    torch::Tensor s = MapoScore(L);
    s.sum().backward();
    EXPECT_TRUE(torch::isfinite(s).all().item<bool>()) << s;
    EXPECT_TRUE(torch::isfinite(L.grad()).all().item<bool>()) << L.grad();
  }
}

TEST(LossesTest, MapoMatchesHandComputedValue) {
  const std::vector<double> lw = {0.20, 0.05, 0.40}, ll = {0.201, 0.30, 0.38};
  const double mapo_beta = 0.1;
  PairErrors e;
  e.policy_w = Vec(lw);
  e.policy_l = Vec(ll);
  auto loss = Make(Spec(LossType::kMapo, Divergence::kReverseKl, 5.0, 0.5, mapo_beta));
  EXPECT_FALSE(loss->needs_reference());
  LossOutput out = loss->Compute(e);
  double mean_lw = 0, mean_logsig = 0, mean_margin = 0, acc = 0;
  std::vector<double> logits;
  for (size_t i = 0; i < lw.size(); ++i) {
    const double margin = MapoS(lw[i]) - MapoS(ll[i]);
    const double y = kT * margin;
    logits.push_back(y);
    mean_lw += lw[i] / lw.size();
    mean_logsig += std::log(1.0 / (1.0 + std::exp(-y))) / lw.size();
    mean_margin += margin / lw.size();
    acc += (y > 0 ? 1.0 : 0.0) / lw.size();
  }
  EXPECT_NEAR(out.loss.item<double>(), mean_lw - mapo_beta * mean_logsig, 1e-12);
  EXPECT_NEAR(out.reward_margin, mean_margin, 1e-14);
  EXPECT_DOUBLE_EQ(out.implicit_accuracy, acc);
  std::vector<double> got = ToVector(out.logits);
  for (size_t i = 0; i < logits.size(); ++i) EXPECT_NEAR(got[i], logits[i], 1e-10);
}

TEST(LossesTest, SftIsMeanPreferredErrorWithReferenceFreeLogits) {
  PairErrors e;
  e.policy_w = Vec({0.1, 0.3});
  e.policy_l = Vec({0.2, 0.3});
  auto loss = Make(Spec(LossType::kSft));
  EXPECT_FALSE(loss->needs_reference());
  LossOutput out = loss->Compute(e);
  EXPECT_NEAR(out.loss.item<double>(), 0.2, 1e-15);
  std::vector<double> z = ToVector(out.logits);
  EXPECT_NEAR(z[0], 50.0, 1e-9);
  EXPECT_EQ(z[1], 0.0);
  EXPECT_DOUBLE_EQ(out.implicit_accuracy, 0.75);
  EXPECT_NEAR(out.reward_margin, 25.0, 1e-9);
}

TEST(LossesTest, NamesAndReferenceNeeds) {
  EXPECT_EQ(Make(Spec(LossType::kDpo))->name(), "dpo");
  EXPECT_EQ(Make(Spec(LossType::kFdpo, Divergence::kJensenShannon))->name(), "fdpo_js");
  EXPECT_EQ(Make(Spec(LossType::kFdpo, Divergence::kAlpha, 1, 0.3))->name(), "fdpo_alpha");
  EXPECT_EQ(Make(Spec(LossType::kMapo))->name(), "mapo");
  EXPECT_EQ(Make(Spec(LossType::kSft))->name(), "sft");
}

// ---- Gradients ----

// SFT ignores policy_l, which then has no gradient at all: read that as zero.
torch::Tensor GradOrZero(const torch::Tensor& t) { return t.grad().defined() ? t.grad() : torch::zeros_like(t); }

double LossValue(const PreferenceLoss& loss, const PairErrors& e) { return loss.Compute(e).loss.item<double>(); }

void ExpectGradientsMatchFiniteDifferences(const PreferenceLoss& loss, const Pairs& p) {
  PairErrors e = ToErrors(p, torch::kDouble, /*requires_grad=*/true);
  loss.Compute(e).loss.backward();
  const double h = 1e-7;
  for (torch::Tensor* which : {&e.policy_w, &e.policy_l}) {
    std::vector<double> analytic = ToVector(GradOrZero(*which));
    for (int64_t i = 0; i < which->size(0); ++i) {
      PairErrors plus = ToErrors(p), minus = ToErrors(p);
      torch::Tensor& tp = which == &e.policy_w ? plus.policy_w : plus.policy_l;
      torch::Tensor& tm = which == &e.policy_w ? minus.policy_w : minus.policy_l;
      tp[i] += h;
      tm[i] -= h;
      const double numeric = (LossValue(loss, plus) - LossValue(loss, minus)) / (2 * h);
      EXPECT_NEAR(analytic[i], numeric, 1e-5 * (1 + std::abs(numeric)))
          << (which == &e.policy_w ? "policy_w" : "policy_l") << "[" << i << "]";
    }
  }
}

TEST(LossesTest, GradientsMatchCentralFiniteDifferencesForEveryLoss) {
  // MixedPairs has log u in [-1, 2]; the MaPO errors straddle the series
  // boundary (L = 0.2) and zero.
  Pairs mapo_pairs{{0.199, 0.05, 0.40, 0.0}, {0.2005, 0.30, 0.3995, 0.001}, {}, {}};
  for (const LossSpec& spec : AllSpecs()) {
    auto loss = Make(spec);
    SCOPED_TRACE(loss->name() + " alpha " + std::to_string(spec.alpha));
    ExpectGradientsMatchFiniteDifferences(*loss, loss->needs_reference() ? MixedPairs() : mapo_pairs);
  }
}

TEST(LossesTest, ReferenceErrorsGetNoGradient) {
  PairErrors e = ToErrors(MixedPairs(), torch::kDouble, true);
  e.reference_w.requires_grad_(true);
  Make(Spec(LossType::kDpo))->Compute(e).loss.backward();
  EXPECT_FALSE(e.reference_w.grad().defined());
}

// ---- Numerical safety ----

void ExpectFiniteLossAndGrads(const PreferenceLoss& loss, const Pairs& p, torch::Dtype dtype) {
  PairErrors e = ToErrors(p, dtype, /*requires_grad=*/true);
  LossOutput out = loss.Compute(e);
  EXPECT_TRUE(std::isfinite(out.loss.item<double>())) << out.loss;
  EXPECT_TRUE(torch::isfinite(out.logits).all().item<bool>()) << out.logits;
  EXPECT_TRUE(std::isfinite(out.reward_margin));
  out.loss.backward();
  EXPECT_TRUE(torch::isfinite(GradOrZero(e.policy_w)).all().item<bool>()) << e.policy_w.grad();
  EXPECT_TRUE(torch::isfinite(GradOrZero(e.policy_l)).all().item<bool>()) << e.policy_l.grad();
}

TEST(LossesTest, FiniteLossAndGradientsAtExtremesZerosAndTies) {
  // T/2 * 20 = 1e4: |log u| = 1e4 in every sign combination.
  const std::vector<std::pair<std::string, Pairs>> cases = {
      {"w -1e4, l +1e4", {{20, 0}, {0, 20}, {0, 20}, {20, 0}}},
      {"w +1e4, l -1e4", {{0, 20}, {20, 0}, {20, 0}, {0, 20}}},
      {"both -1e4", {{20, 20}, {20, 20}, {0, 0}, {0, 0}}},
      {"both +1e4", {{0, 0}, {0, 0}, {20, 20}, {20, 20}}},
      {"all zero", {{0, 0}, {0, 0}, {0, 0}, {0, 0}}},
      {"w == l", {{0.3, 0.1}, {0.3, 0.1}, {0.2, 0.4}, {0.2, 0.4}}},
      {"just past the cap", {{0.101, 0.0}, {0.0, 0.101}, {0.0, 0.101}, {0.101, 0.0}}},
  };
  for (const LossSpec& spec : AllSpecs()) {
    auto loss = Make(spec);
    for (const auto& [what, pairs] : cases) {
      for (torch::Dtype dtype : {torch::kFloat, torch::kDouble, torch::kBFloat16}) {
        SCOPED_TRACE(loss->name() + " alpha " + std::to_string(spec.alpha) + ": " + what + " dtype " +
                     std::string(c10::toString(dtype)));
        ExpectFiniteLossAndGrads(*loss, pairs, dtype);
      }
    }
  }
}

TEST(LossesTest, CappedLinksKeepPushingBeyondTheCap) {
  // Forward KL at log u_w = -1e4: the link is continued linearly, so the
  // policy still gets a (finite, nonzero) gradient to lower l_w.
  auto loss = Make(Spec(LossType::kFdpo, Divergence::kForwardKl, 0.7));
  PairErrors e = ToErrors({{20}, {0}, {0}, {0}}, torch::kFloat, true);
  loss->Compute(e).loss.backward();
  const float g = e.policy_w.grad().item<float>();
  EXPECT_TRUE(std::isfinite(g));
  EXPECT_GT(g, 0.0f);
}

// Error gaps of 1 and 10 between policy and reference: |log u| = 500 and 5000
// at T/2 = 500, far past where exp would overflow. The forward-KL and alpha
// links must give a loss and gradients that are finite and bounded by the
// soft cap (|f'| < e^(kExpExactBelow + kExpSoftSpan) / min(alpha, 1)).
TEST(LossesTest, ForwardKlAndAlphaStayBoundedAtErrorGapsOneAndTen) {
  const double beta = 5.0;
  const double link_bound = std::exp(kExpExactBelow + kExpSoftSpan);
  for (const LinkCase link : {LinkCase{Divergence::kForwardKl, 0.5}, LinkCase{Divergence::kAlpha, 0.3},
                              LinkCase{Divergence::kAlpha, 0.8}}) {
    auto loss = Make(Spec(LossType::kFdpo, link.divergence, beta, link.alpha));
    const double f_bound = link_bound / std::min(link.alpha, 1.0) + 1.0 / link.alpha;
    for (double gap : {1.0, 10.0}) {
      for (double sign : {1.0, -1.0}) {
        SCOPED_TRACE(loss->name() + " alpha " + std::to_string(link.alpha) + " gap " + std::to_string(sign * gap));
        for (torch::Dtype dtype : {torch::kFloat, torch::kDouble}) {
          // Pair 0: the preferred error off by the gap; pair 1: the rejected one.
          const double off = sign > 0 ? gap : 0.0, base = sign > 0 ? 0.0 : gap;
          PairErrors e = ToErrors({{off, 0.1}, {0.1, off}, {base, 0.1}, {0.1, base}}, dtype, true);
          LossOutput out = loss->Compute(e);
          const double value = out.loss.item<double>();
          ASSERT_TRUE(std::isfinite(value));
          EXPECT_LE(value, 2 * beta * f_bound + 1.0);
          out.loss.backward();
          for (const torch::Tensor& g : {e.policy_w.grad(), e.policy_l.grad()}) {
            ASSERT_TRUE(torch::isfinite(g).all().item<bool>()) << g;
            EXPECT_LE(g.abs().max().item<double>(), beta * 0.5 * kT * f_bound) << g;
          }
        }
      }
    }
  }
}

TEST(LossesTest, LinksAreExactBelowTheSoftCapAndSmoothAtIt) {
  // Exact where |log u| <= kExpExactBelow: f'(u) = -1/u for forward KL.
  for (double log_u : {-kExpExactBelow + 0.5, -3.0, 0.0, 4.0}) {
    EXPECT_DOUBLE_EQ(LinkDerivative(Divergence::kForwardKl, 0.5, Vec({log_u})).item<double>(), -std::exp(-log_u));
  }
  // The capped argument meets x with equal value and slope at the cap, rises, and stays below the bound.
  torch::Tensor x = Vec({kExpExactBelow - 1e-6, kExpExactBelow + 1e-6, kExpExactBelow + 3.0, 1e4}).requires_grad_(true);
  torch::Tensor s = SoftCapExponent(x);
  s.sum().backward();
  const std::vector<double> v = ToVector(s), g = ToVector(x.grad());
  EXPECT_NEAR(v[0], kExpExactBelow, 2e-6);
  EXPECT_NEAR(v[1], kExpExactBelow, 2e-6);
  EXPECT_NEAR(g[0], 1.0, 1e-5);
  EXPECT_NEAR(g[1], 1.0, 1e-5);
  EXPECT_LT(v[1], v[2]);
  EXPECT_LT(v[2], v[3]);
  EXPECT_LT(v[3], kExpExactBelow + kExpSoftSpan);
  EXPECT_GT(g[3], 0.0);
}

TEST(LossesTest, MapoSnrValueIsTheSpecsAndNotAConstant) {
  const Pairs p{{0.3, 0.05}, {0.6, 0.2}, {}, {}};
  for (double c : {0.5, 1.0, 2.5}) {
    LossSpec spec = Spec(LossType::kMapo, Divergence::kReverseKl, 0.7, 0.5, 0.1);
    spec.snr_value = c;
    LossOutput out = Make(spec)->Compute(ToErrors(p));
    std::vector<double> z = ToVector(out.logits);
    for (size_t i = 0; i < p.pw.size(); ++i) {
      const auto s = [c](double L) { return c * L / std::expm1(c * L); };
      EXPECT_NEAR(z[i], kT * (s(p.pw[i]) - s(p.pl[i])), 1e-9) << "c " << c;
    }
  }
  LossSpec bad = Spec(LossType::kMapo);
  bad.snr_value = 0;
  EXPECT_EQ(MakeLoss(bad, kT).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LossesTest, SftNeedsOnlyThePreferredHalf) {
  auto sft = Make(Spec(LossType::kSft));
  EXPECT_FALSE(sft->needs_rejected());
  EXPECT_TRUE(Make(Spec(LossType::kDpo))->needs_rejected());
  EXPECT_TRUE(Make(Spec(LossType::kMapo))->needs_rejected());
  PairErrors preferred_only;
  preferred_only.policy_w = Vec({0.1, 0.3}).requires_grad_(true);
  LossOutput out = sft->Compute(preferred_only);
  EXPECT_NEAR(out.loss.item<double>(), 0.2, 1e-12);
  EXPECT_EQ(out.implicit_accuracy, 0.5);
  out.loss.backward();
  EXPECT_TRUE(torch::allclose(preferred_only.policy_w.grad(), Vec({0.5, 0.5})));
}

TEST(LossesTest, Bf16InputsAreComputedInFp32) {
  const Pairs p = MixedPairs();
  LossOutput bf = Make(Spec(LossType::kFdpo, Divergence::kJensenShannon))->Compute(ToErrors(p, torch::kBFloat16));
  EXPECT_EQ(bf.loss.scalar_type(), torch::kFloat);
  PairErrors rounded = ToErrors(p, torch::kBFloat16);
  rounded.policy_w = rounded.policy_w.to(torch::kDouble);
  rounded.policy_l = rounded.policy_l.to(torch::kDouble);
  rounded.reference_w = rounded.reference_w.to(torch::kDouble);
  rounded.reference_l = rounded.reference_l.to(torch::kDouble);
  LossOutput exact = Make(Spec(LossType::kFdpo, Divergence::kJensenShannon))->Compute(rounded);
  EXPECT_NEAR(bf.loss.item<double>(), exact.loss.item<double>(), 1e-5);
}

TEST(LossesTest, MalformedErrorsThrow) {
  auto dpo = Make(Spec(LossType::kDpo));
  PairErrors no_reference;
  no_reference.policy_w = Vec({0.1});
  no_reference.policy_l = Vec({0.2});
  EXPECT_THROW(dpo->Compute(no_reference), c10::Error);
  EXPECT_NO_THROW(Make(Spec(LossType::kMapo))->Compute(no_reference));
  PairErrors mismatched = ToErrors(MixedPairs());
  mismatched.policy_l = Vec({0.1});
  EXPECT_THROW(dpo->Compute(mismatched), c10::Error);
}

// ---- Specs and names ----

TEST(LossesTest, ParseDivergenceKnownNamesRoundTrip) {
  for (Divergence d : {Divergence::kReverseKl, Divergence::kForwardKl, Divergence::kJensenShannon,
                       Divergence::kAlpha, Divergence::kHellinger}) {
    auto parsed = ParseDivergence(DivergenceName(d));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, d);
  }
  EXPECT_EQ(*ParseDivergence("jensen_shannon"), Divergence::kJensenShannon);
}

TEST(LossesTest, ParseDivergenceRejectsChiSquaredAndTotalVariationWithReasons) {
  for (const char* name : {"chi_squared", "chi2"}) {
    auto parsed = ParseDivergence(name);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(parsed.status().message().find("domain of f'"), std::string::npos) << parsed.status();
    EXPECT_NE(parsed.status().message().find("reverse_kl"), std::string::npos) << parsed.status();
  }
  for (const char* name : {"total_variation", "tv"}) {
    auto parsed = ParseDivergence(name);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(parsed.status().message().find("not invertible"), std::string::npos) << parsed.status();
  }
  auto unknown = ParseDivergence("wasserstein");
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(unknown.status().message().find("hellinger"), std::string::npos) << unknown.status();
}

void ExpectInvalid(const LossSpec& spec, const std::string& field) {
  absl::Status status = ValidateLossSpec(spec);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  EXPECT_NE(status.message().find(field), std::string::npos) << status;
  EXPECT_FALSE(MakeLoss(spec, kT).ok());
}

TEST(LossesTest, InvalidSpecsNameTheField) {
  for (double alpha : {0.0, 1.0, -0.1, 1.5, std::nan("")}) {
    ExpectInvalid(Spec(LossType::kFdpo, Divergence::kAlpha, 1.0, alpha), "loss.alpha");
  }
  for (double beta : {0.0, -1.0, HUGE_VAL, std::nan("")}) {
    ExpectInvalid(Spec(LossType::kDpo, Divergence::kReverseKl, beta), "loss.beta");
    ExpectInvalid(Spec(LossType::kFdpo, Divergence::kJensenShannon, beta), "loss.beta");
  }
  for (double mapo_beta : {0.0, -0.1, std::nan("")}) {
    ExpectInvalid(Spec(LossType::kMapo, Divergence::kReverseKl, 5.0, 0.5, mapo_beta), "loss.mapo_beta");
  }
}

TEST(LossesTest, ValidationOnlyChecksFieldsTheLossUses) {
  EXPECT_TRUE(ValidateLossSpec(Spec(LossType::kFdpo, Divergence::kJensenShannon, 1.0, /*alpha=*/7.0)).ok());
  EXPECT_TRUE(ValidateLossSpec(Spec(LossType::kMapo, Divergence::kReverseKl, /*beta=*/0.0)).ok());
  EXPECT_TRUE(ValidateLossSpec(Spec(LossType::kSft, Divergence::kReverseKl, 0.0, 0.0, 0.0)).ok());
  EXPECT_FALSE(MakeLoss(Spec(LossType::kDpo), /*num_train_timesteps=*/0).ok());
}

}  // namespace
}  // namespace align::engine
