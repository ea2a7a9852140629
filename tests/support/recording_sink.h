#pragma once
// A SessionSink that records what a rank is sent, for tests of what the
// coordinator streams (job kinds) without a session.

#include <memory>
#include <utility>
#include <variant>
#include <vector>

#include "coordinator/core/job_kind.h"
#include "coordinator/core/worker_messages.h"

namespace align::testing {

class RecordingSink : public coordinator::SessionSink {
 public:
  void Enqueue(coordinator::OutboundMessage message) override { queued.push_back(std::move(message)); }
  void Flush() override {}
  void Close() override { closed = true; }

  template <typename T>
  std::vector<T> Queued() const {
    std::vector<T> out;
    for (const auto& m : queued) {
      if (const T* t = std::get_if<T>(&m)) out.push_back(*t);
    }
    return out;
  }

  std::vector<coordinator::OutboundMessage> queued;
  bool closed = false;
};

// `world` recording sinks, and the same as a group's RankSinks.
struct RecordingGroup {
  explicit RecordingGroup(int world) {
    for (int rank = 0; rank < world; ++rank) {
      ranks.push_back(std::make_shared<RecordingSink>());
      sinks.push_back(ranks.back());
    }
  }
  std::vector<std::shared_ptr<RecordingSink>> ranks;
  coordinator::RankSinks sinks;
};

}  // namespace align::testing
