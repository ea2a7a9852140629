#include "worker/engine/bucket_schedule.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

namespace align::engine {

int64_t BucketBytes(double bucket_mb) {
  return std::max<int64_t>(1, std::llround(bucket_mb * (int64_t{1} << 20)));
}

std::vector<std::vector<size_t>> ReverseOrderBuckets(const std::vector<int64_t>& gradient_bytes,
                                                     int64_t bucket_bytes) {
  std::vector<std::vector<size_t>> buckets;
  int64_t current = 0;
  for (size_t k = gradient_bytes.size(); k-- > 0;) {
    if (buckets.empty() || (!buckets.back().empty() && current + gradient_bytes[k] > bucket_bytes)) {
      buckets.emplace_back();
      current = 0;
    }
    buckets.back().push_back(k);
    current += gradient_bytes[k];
  }
  return buckets;
}

BucketSchedule::BucketSchedule(std::vector<std::vector<size_t>> buckets, size_t num_params)
    : buckets_(std::move(buckets)), bucket_of_(num_params, SIZE_MAX), ready_(num_params, false) {
  for (size_t b = 0; b < buckets_.size(); ++b) {
    for (size_t param : buckets_[b]) {
      if (param >= num_params || bucket_of_[param] != SIZE_MAX) {
        throw std::invalid_argument("BucketSchedule: buckets must partition the parameters");
      }
      bucket_of_[param] = b;
    }
  }
  for (size_t b : bucket_of_) {
    if (b == SIZE_MAX) throw std::invalid_argument("BucketSchedule: a parameter is in no bucket");
  }
  Reset();
}

void BucketSchedule::Reset() {
  ready_.assign(ready_.size(), false);
  still_pending_.clear();
  for (const auto& bucket : buckets_) still_pending_.push_back(bucket.size());
  next_ = 0;
}

std::vector<size_t> BucketSchedule::MarkReady(size_t param) {
  if (param >= ready_.size() || ready_[param]) return {};
  ready_[param] = true;
  --still_pending_[bucket_of_[param]];
  return TakeStartable();
}

std::vector<size_t> BucketSchedule::TakeStartable() {
  std::vector<size_t> start;
  while (next_ < buckets_.size() && still_pending_[next_] == 0) start.push_back(next_++);
  return start;
}

std::vector<size_t> BucketSchedule::TakeRemaining() {
  std::vector<size_t> start;
  while (next_ < buckets_.size()) start.push_back(next_++);
  return start;
}

}  // namespace align::engine
