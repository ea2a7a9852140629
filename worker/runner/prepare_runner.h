#pragma once
// A prepare job's share on this rank, served for a coordinator: the chunks
// the coordinator assigned it. Ranks share nothing but storage, so there is
// no communicator; the serve loop agrees on the outcome once every rank is
// done. LibTorch side (the encoders).

#include <memory>

#include "common/job_spec.h"
#include "worker/control/job_session.h"

namespace align::runner {

// `spec` is the ticket's, with `device` resolved to the job's device.
std::unique_ptr<control::PreparedJob> SetUpPrepareJob(const control::JobTicket& ticket, const JobSpec& spec);

}  // namespace align::runner
