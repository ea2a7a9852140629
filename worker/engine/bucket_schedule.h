#pragma once
// Which trainable parameters' gradients are reduced together (buckets), and
// when a bucket's collective may start while backward still runs: once every
// gradient in it is final and every earlier bucket has started. Buckets start
// in one fixed order on every rank, whatever order a rank's gradients finish
// in, because ranks must issue their collectives in the same order. Plain
// logic, no tensors.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace align::engine {

// `optim.bucket_mb` in bytes (MiB, as DDP's bucket_cap_mb); at least 1.
int64_t BucketBytes(double bucket_mb);

// Groups parameters (given by their gradient sizes in bytes, in registration
// order) into buckets of about `bucket_bytes`, in reverse registration order:
// backward finishes the last layers' gradients first. Each bucket holds at
// least one parameter; a parameter larger than `bucket_bytes` is a bucket of
// its own. Within a bucket, parameters keep reverse order too.
std::vector<std::vector<size_t>> ReverseOrderBuckets(const std::vector<int64_t>& gradient_bytes, int64_t bucket_bytes);

class BucketSchedule {
 public:
  // `buckets` partitions the parameter indices [0, num_params).
  BucketSchedule(std::vector<std::vector<size_t>> buckets, size_t num_params);

  // A new round: no gradient final, no bucket started.
  void Reset();
  // Parameter `param`'s gradient is final for this round (again: ignored).
  // Returns the buckets that start now, in order.
  std::vector<size_t> MarkReady(size_t param);
  // Every bucket not started yet, in order, now counted as started (backward
  // gave some parameter no gradient, or did not run).
  std::vector<size_t> TakeRemaining();

  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }

 private:
  std::vector<size_t> TakeStartable();

  std::vector<std::vector<size_t>> buckets_;
  std::vector<size_t> bucket_of_;      // per parameter
  std::vector<bool> ready_;            // per parameter, this round
  std::vector<size_t> still_pending_;  // per bucket: gradients not final yet
  size_t next_ = 0;                    // the first bucket not started
};

}  // namespace align::engine
