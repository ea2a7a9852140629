#pragma once
// Early-return helpers for absl::Status / absl::StatusOr, in the spirit of the
// macros Google's code bases use internally (abseil does not export them).

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ALIGN_STATUS_CONCAT_INNER(a, b) a##b
#define ALIGN_STATUS_CONCAT(a, b) ALIGN_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status _align_status = (expr);     \
    if (!_align_status.ok()) return _align_status; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

// ASSIGN_OR_RETURN(auto x, MakeX()); declares x or returns MakeX()'s error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(ALIGN_STATUS_CONCAT(_align_statusor_, __LINE__), lhs, expr)
