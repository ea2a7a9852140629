#pragma once
// The coordinator database's schema and its migrations. `schema_version`
// holds one row; a file written by a newer coordinator (a higher version) is
// refused rather than misread.

#include "absl/status/status.h"
#include "coordinator/core/sqlite.h"

namespace align::coordinator {

inline constexpr int kSchemaVersion = 4;

// Creates the tables in a new file, or migrates an older one, in one transaction.
absl::Status ApplySchema(Database& db);

}  // namespace align::coordinator
