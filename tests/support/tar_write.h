#pragma once
// Writes ustar archives with libarchive, for tests that need WebDataset shards.

#include <string>
#include <utility>
#include <vector>

namespace align::testing {

// Members in order, as (name, bytes). Returns false on any libarchive error.
bool WriteTar(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members);

}  // namespace align::testing
