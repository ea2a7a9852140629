#pragma once
// Guards the resumption of a chunked job (prepare, generate, score, pairs):
// `<state_dir>/plan.json` records a fingerprint of everything that decides
// what a chunk writes. A restarted job with the same fingerprint skips the
// chunks that have records; a different one is refused, so outputs of two
// configurations are never mixed.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/random.h"
#include "nlohmann/json.hpp"

namespace align {

// A stable 64-bit hash over values added in order (the same on every machine
// and build, unlike std::hash).
class Fingerprint {
 public:
  explicit Fingerprint(uint64_t start) : h_(start) {}
  void Add(uint64_t v) { h_ = Mix64(h_ ^ Mix64(v + 0x5bd1e995)); }
  void Add(absl::string_view s) {
    Add(static_cast<uint64_t>(s.size()));
    for (unsigned char c : s) Add(static_cast<uint64_t>(c));
  }
  void AddDouble(double v);
  uint64_t value() const { return h_; }

 private:
  uint64_t h_;
};

// Whether `state_dir`/plan.json exists with this fingerprint.
bool RunFingerprintMatches(const std::string& state_dir, uint64_t fingerprint);

// Creates the state directory and plan.json (the fingerprint and `summary`'s
// fields), or checks that an existing one has the same fingerprint:
// FailedPrecondition otherwise, saying what to do. `job_type` names the kind
// of run in that message ("prepare", "generate").
absl::Status CheckOrWriteRunFingerprint(const std::string& state_dir, uint64_t fingerprint,
                                        absl::string_view job_type, const nlohmann::json& summary);

}  // namespace align
