#pragma once
// Counter-based randomness: every random draw in training is keyed by a tuple
// such as (seed, step, rank, micro-batch), never by how many draws came before.
// A resumed job therefore draws exactly what an uninterrupted one would have.

#include <cstdint>
#include <initializer_list>

namespace align {

// SplitMix64's finaliser: a bijective 64-bit mix with full avalanche.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// A seed for the stream identified by `key` under `seed`; distinct keys give
// independent-looking streams.
inline uint64_t DeriveSeed(uint64_t seed, std::initializer_list<uint64_t> key) {
  uint64_t h = Mix64(seed);
  for (uint64_t k : key) h = Mix64(h ^ Mix64(k + 0x632be59bd9b4e019ull));
  return h;
}

// Stream tags, so that e.g. noise and data order never share a stream.
enum class RandomStream : uint64_t {
  kDataOrder = 1,
  kNoise = 2,
  kTimesteps = 3,
  kEval = 4,
  kInit = 5,
  kCurriculumOrder = 6,
};

// A small counter-mode generator: the n-th output is Mix64(key + n).
class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}
  uint64_t Next() { return Mix64(key_ + 0x9e3779b97f4a7c15ull * ++counter_); }
  // Uniform in [0, bound) without modulo bias.
  uint64_t Below(uint64_t bound);

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

inline uint64_t CounterRng::Below(uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t x;
  do {
    x = Next();
  } while (x >= limit);
  return x % bound;
}

}  // namespace align
