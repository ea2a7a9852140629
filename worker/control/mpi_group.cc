#include "worker/control/mpi_group.h"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "worker/control/rank_messages.h"

namespace align::control {

namespace {

MPI_Comm& Comm(void* comm) { return *static_cast<MPI_Comm*>(comm); }

}  // namespace

MpiGroup::MpiGroup() : comm_(new MPI_Comm) {
  MPI_Comm_dup(MPI_COMM_WORLD, &Comm(comm_));
  MPI_Comm_rank(Comm(comm_), &rank_);
  MPI_Comm_size(Comm(comm_), &size_);
}

MpiGroup::~MpiGroup() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&Comm(comm_));
  delete static_cast<MPI_Comm*>(comm_);
}

void MpiGroup::Wait(void* request) {
  MPI_Request* r = static_cast<MPI_Request*>(request);
  auto sleep = std::chrono::microseconds(50);
  while (true) {
    int done = 0;
    MPI_Test(r, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(sleep);
    sleep = std::min<std::chrono::microseconds>(sleep * 2, std::chrono::milliseconds(20));
  }
}

std::vector<std::string> MpiGroup::AllGather(const std::string& value) {
  int length = static_cast<int>(value.size());
  std::vector<int> lengths(size_);
  MPI_Request request;
  MPI_Iallgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, Comm(comm_), &request);
  Wait(&request);
  std::vector<int> offsets(size_, 0);
  int total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[r] = total;
    total += lengths[r];
  }
  std::string all(static_cast<size_t>(total), '\0');
  MPI_Iallgatherv(value.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR, Comm(comm_),
                  &request);
  Wait(&request);
  std::vector<std::string> values;
  for (int r = 0; r < size_; ++r) values.push_back(all.substr(offsets[r], lengths[r]));
  return values;
}

std::string MpiGroup::Broadcast(const std::string& value, int root) {
  int64_t length = rank_ == root ? static_cast<int64_t>(value.size()) : 0;
  MPI_Request request;
  MPI_Ibcast(&length, 1, MPI_INT64_T, root, Comm(comm_), &request);
  Wait(&request);
  std::string out = rank_ == root ? value : std::string(static_cast<size_t>(length), '\0');
  if (length > 0) {
    MPI_Ibcast(out.data(), static_cast<int>(length), MPI_CHAR, root, Comm(comm_), &request);
    Wait(&request);
  }
  return out;
}

bool MpiGroup::AnyTrue(bool value) {
  int local = value ? 1 : 0, any = 0;
  MPI_Request request;
  MPI_Iallreduce(&local, &any, 1, MPI_INT, MPI_MAX, Comm(comm_), &request);
  Wait(&request);
  return any != 0;
}

bool MpiGroup::AllEqual(int64_t value) {
  int64_t local[2] = {value, -value}, reduced[2] = {0, 0};
  MPI_Request request;
  MPI_Iallreduce(local, reduced, 2, MPI_INT64_T, MPI_MAX, Comm(comm_), &request);
  Wait(&request);
  return reduced[0] == value && -reduced[1] == value;
}

absl::Status MpiGroup::AgreeOnError(const absl::Status& local) {
  int mine = local.ok() ? size_ : rank_, first = size_;
  MPI_Request request;
  MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, Comm(comm_), &request);
  Wait(&request);
  if (first == size_) return absl::OkStatus();
  const std::string encoded =
      rank_ == first ? EncodeRankFailure({local.code(), std::string(local.message())}) : std::string();
  absl::StatusOr<RankFailure> failure = DecodeRankFailure(Broadcast(encoded, first));
  if (!failure.ok()) return absl::InternalError(absl::StrCat("rank ", first, ": ", failure.status().message()));
  std::string message = std::move(failure->message);
  if (size_ > 1) message = absl::StrCat("rank ", first, ": ", message);
  return absl::Status(failure->code, message);
}

}  // namespace align::control
