#pragma once
// Include-what-you-use for the C++ standard library, as this project needs it: a file that
// names a standard facility includes that facility's header itself (or, for a .cc, its own
// header does), instead of getting it through another header. Standard libraries differ in
// what their headers include transitively (g++ 13's include less than g++ 12's), so a file
// that leans on a transitive include builds on one compiler and fails on the next.
//
// The check is lexical: comments and string literals are removed, then `std::name` and the
// unqualified fixed-width integer types are looked up in a table of facility -> header.

#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace align::tools {

struct MissingStdInclude {
  int line = 0;          // 1-based line of the first use
  std::string symbol;    // as written, e.g. "uint64_t" or "std::vector"
  std::string header;    // e.g. "cstdint"
};

// The standard headers a file includes with #include <...> (names without brackets).
std::set<std::string> IncludedStdHeaders(std::string_view source);

// `source` with comments, string and character literals blanked out (newlines kept, so line
// numbers stay).
std::string StripCommentsAndLiterals(std::string_view source);

// Each standard facility `source` uses whose header is neither included by `source` nor in
// `also_included` (a .cc file's own header's includes), once per header, first use first.
std::vector<MissingStdInclude> FindMissingStdIncludes(std::string_view source,
                                                      const std::set<std::string>& also_included);

// `source` with `#include <header>` added for each header in `headers`, into the file's block
// of standard includes (kept sorted), or in a new block after `#pragma once` / the file's own
// header include.
std::string AddStdIncludes(std::string_view source, const std::set<std::string>& headers);

}  // namespace align::tools
