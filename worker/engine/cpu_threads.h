#pragma once
// Ranks sharing a host share its cores: each rank's intra-op thread pool gets
// an equal share, since oversubscribing the cores makes every rank slow.

namespace align::engine {

void UseFairShareOfCores();

}  // namespace align::engine
