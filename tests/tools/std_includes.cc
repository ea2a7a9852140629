#include "tests/tools/std_includes.h"

#include <algorithm>
#include <cctype>
#include <initializer_list>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace align::tools {
namespace {

// Facility -> the headers that declare it; the first is the one a fix adds. Names that every
// standard library reaches from any header (std::move, std::size_t, std::pair) are left out:
// requiring them would be noise, and no compiler drops them.
const std::map<std::string, std::vector<std::string>, std::less<>>& StdFacilities() {
  static const auto* table = [] {
    auto* t = new std::map<std::string, std::vector<std::string>, std::less<>>;
    const auto add = [t](std::vector<std::string> headers, std::initializer_list<const char*> names) {
      for (const char* name : names) (*t)[name] = headers;
    };
    add({"cstdint"}, {"int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
                      "uint64_t", "intptr_t", "uintptr_t", "intmax_t", "uintmax_t"});
    add({"vector"}, {"vector"});
    add({"string"}, {"string", "to_string", "stoi", "stol", "stoll", "stoul", "stoull", "stof",
                     "stod", "basic_string"});
    add({"string_view"}, {"string_view"});
    add({"map"}, {"map", "multimap"});
    add({"unordered_map"}, {"unordered_map"});
    add({"set"}, {"set", "multiset"});
    add({"unordered_set"}, {"unordered_set"});
    add({"deque"}, {"deque"});
    add({"list"}, {"list"});
    add({"queue"}, {"queue", "priority_queue"});
    add({"array"}, {"array"});
    add({"bitset"}, {"bitset"});
    add({"tuple"}, {"tuple", "make_tuple", "tie", "apply", "tuple_size", "forward_as_tuple"});
    add({"memory"}, {"unique_ptr", "shared_ptr", "weak_ptr", "make_unique", "make_shared",
                     "enable_shared_from_this", "static_pointer_cast", "dynamic_pointer_cast"});
    add({"optional"}, {"optional", "nullopt", "make_optional", "nullopt_t"});
    add({"variant"}, {"variant", "visit", "holds_alternative", "get_if", "monostate"});
    add({"functional"}, {"function", "hash", "bind", "reference_wrapper", "invoke"});
    add({"mutex"}, {"mutex", "lock_guard", "unique_lock", "scoped_lock", "recursive_mutex",
                    "once_flag", "call_once", "timed_mutex"});
    add({"shared_mutex"}, {"shared_mutex", "shared_lock"});
    add({"condition_variable"}, {"condition_variable", "condition_variable_any", "cv_status"});
    add({"thread"}, {"thread", "this_thread"});
    add({"future"}, {"future", "promise", "async", "shared_future", "packaged_task"});
    add({"atomic"}, {"atomic", "atomic_bool", "atomic_int", "atomic_flag", "memory_order"});
    add({"chrono"}, {"chrono"});
    add({"sstream"}, {"ostringstream", "istringstream", "stringstream"});
    add({"fstream"}, {"ifstream", "ofstream", "fstream"});
    add({"iostream"}, {"cout", "cerr", "cin", "clog"});
    add({"ostream", "iostream", "sstream", "fstream"}, {"ostream", "endl", "flush"});
    add({"istream", "iostream", "sstream", "fstream"}, {"istream", "getline", "ws"});
    add({"iomanip"}, {"setw", "setprecision", "setfill", "put_time", "quoted"});
    add({"algorithm"}, {"sort", "stable_sort", "min", "max", "minmax", "clamp", "find", "find_if",
                        "find_if_not", "count", "count_if", "any_of", "all_of", "none_of", "copy",
                        "copy_if", "copy_n", "fill", "fill_n", "reverse", "unique", "lower_bound",
                        "upper_bound", "equal_range", "binary_search", "max_element", "min_element",
                        "minmax_element", "remove_if", "transform", "equal", "mismatch", "shuffle",
                        "nth_element", "partial_sort", "for_each", "replace", "replace_if", "rotate",
                        "is_sorted", "set_difference", "set_intersection", "set_union", "generate",
                        "includes", "lexicographical_compare", "search", "adjacent_find"});
    add({"numeric"}, {"accumulate", "iota", "inner_product", "partial_sum", "gcd", "lcm", "reduce",
                      "exclusive_scan", "inclusive_scan", "transform_reduce"});
    add({"stdexcept"}, {"runtime_error", "logic_error", "invalid_argument", "out_of_range",
                        "length_error", "overflow_error", "range_error", "domain_error"});
    add({"exception"}, {"exception", "exception_ptr", "current_exception", "rethrow_exception",
                        "terminate", "set_terminate", "uncaught_exceptions"});
    add({"new"}, {"bad_alloc", "nothrow"});
    add({"limits"}, {"numeric_limits"});
    add({"filesystem"}, {"filesystem"});
    add({"system_error"}, {"error_code", "system_error", "generic_category", "system_category", "errc"});
    add({"cmath"}, {"sqrt", "exp", "exp2", "log", "log2", "log10", "pow", "fabs", "floor", "ceil",
                    "round", "lround", "llround", "isnan", "isinf", "isfinite", "sin", "cos", "tan",
                    "tanh", "erf", "erfc", "expm1", "log1p", "fmod", "hypot", "trunc", "nextafter",
                    "fma", "cbrt", "atan", "atan2", "acos", "asin", "signbit", "copysign", "ldexp",
                    "frexp", "modf", "nearbyint", "rint", "fmin", "fmax"});
    add({"cstring"}, {"memcpy", "memset", "memcmp", "memmove", "memchr", "strlen", "strcmp",
                      "strncmp", "strerror", "strchr", "strrchr", "strstr", "strncpy", "strcpy"});
    add({"cstdio"}, {"printf", "fprintf", "snprintf", "sprintf", "fopen", "fclose", "fwrite",
                     "fread", "fflush", "FILE", "puts", "fputs", "fgets", "perror", "fseek",
                     "ftell", "fileno", "setvbuf", "vsnprintf"});
    add({"cstdlib"}, {"getenv", "exit", "abort", "strtol", "strtoll", "strtoul", "strtoull",
                      "strtod", "strtof", "atoi", "atol", "atof", "malloc", "free", "calloc",
                      "realloc", "system", "_Exit", "quick_exit", "atexit", "div", "llabs"});
    add({"cmath", "cstdlib"}, {"abs"});
    add({"cctype"}, {"isdigit", "isalpha", "isspace", "tolower", "toupper", "isalnum", "isupper",
                     "islower", "isxdigit", "isprint", "ispunct", "iscntrl"});
    add({"csignal"}, {"signal", "raise", "sig_atomic_t"});
    add({"ctime"}, {"time_t", "tm", "strftime", "localtime", "gmtime", "mktime", "difftime",
                    "timespec"});
    add({"random"}, {"mt19937", "mt19937_64", "uniform_int_distribution",
                     "uniform_real_distribution", "normal_distribution", "random_device",
                     "bernoulli_distribution", "discrete_distribution", "default_random_engine"});
    add({"regex"}, {"regex", "regex_match", "regex_search", "regex_replace", "smatch", "cmatch",
                    "sregex_iterator"});
    add({"initializer_list"}, {"initializer_list"});
    add({"type_traits"}, {"is_same", "is_same_v", "enable_if", "enable_if_t", "decay_t",
                          "remove_reference_t", "remove_cv_t", "is_integral", "is_integral_v",
                          "is_floating_point", "is_floating_point_v", "conditional_t",
                          "is_arithmetic_v", "is_signed_v", "is_unsigned_v", "underlying_type_t",
                          "is_enum_v", "is_trivially_copyable_v", "invoke_result_t",
                          "is_convertible_v", "is_base_of_v", "integral_constant", "true_type",
                          "false_type", "void_t", "is_pointer_v", "remove_const_t", "add_const_t"});
    add({"cstddef"}, {"byte", "ptrdiff_t", "nullptr_t", "max_align_t"});
    add({"iterator"}, {"back_inserter", "inserter", "distance", "next", "prev", "advance",
                       "istreambuf_iterator", "ostream_iterator", "istream_iterator",
                       "make_move_iterator", "reverse_iterator", "iterator_traits"});
    add({"cerrno"}, {"errno"});
    add({"climits"}, {"CHAR_BIT", "INT_MAX", "INT_MIN", "UINT_MAX", "LONG_MAX", "LLONG_MAX",
                      "PATH_MAX"});
    add({"cstdint"}, {"INT8_MAX", "INT16_MAX", "INT32_MAX", "INT64_MAX", "INT32_MIN", "INT64_MIN",
                      "UINT8_MAX", "UINT16_MAX", "UINT32_MAX", "UINT64_MAX", "SIZE_MAX"});
    return t;
  }();
  return *table;
}

// Names that count unqualified too: types and macros a C++ file writes without `std::`.
bool CountsUnqualified(std::string_view name) {
  static const std::set<std::string, std::less<>> kUnqualified = {
      "int8_t",    "int16_t",   "int32_t",   "int64_t",   "uint8_t",   "uint16_t",
      "uint32_t",  "uint64_t",  "intptr_t",  "uintptr_t", "errno",     "INT8_MAX",
      "INT16_MAX", "INT32_MAX", "INT64_MAX", "INT32_MIN", "INT64_MIN", "UINT8_MAX",
      "UINT16_MAX", "UINT32_MAX", "UINT64_MAX", "SIZE_MAX", "CHAR_BIT", "INT_MAX",
      "INT_MIN",   "UINT_MAX",  "LONG_MAX",  "LLONG_MAX", "PATH_MAX"};
  return kUnqualified.count(name) > 0;
}

bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

std::string StripCommentsAndLiterals(std::string_view source) {
  std::string out(source);
  const size_t n = source.size();
  size_t i = 0;
  const auto blank = [&](size_t from, size_t to) {
    for (size_t k = from; k < to && k < n; ++k) {
      if (out[k] != '\n') out[k] = ' ';
    }
  };
  while (i < n) {
    const char c = source[i];
    if (c == '/' && i + 1 < n && source[i + 1] == '/') {
      size_t end = source.find('\n', i);
      if (end == std::string_view::npos) end = n;
      blank(i, end);
      i = end;
    } else if (c == '/' && i + 1 < n && source[i + 1] == '*') {
      size_t end = source.find("*/", i + 2);
      end = end == std::string_view::npos ? n : end + 2;
      blank(i, end);
      i = end;
    } else if (c == 'R' && i + 1 < n && source[i + 1] == '"' && (i == 0 || !IsIdentChar(source[i - 1]) ||
                                                               source[i - 1] == 'u' || source[i - 1] == 'L' ||
                                                               source[i - 1] == '8')) {
      // Raw string R"delim( ... )delim".
      const size_t open = source.find('(', i + 2);
      if (open == std::string_view::npos) break;
      const std::string close = ")" + std::string(source.substr(i + 2, open - i - 2)) + "\"";
      size_t end = source.find(close, open);
      end = end == std::string_view::npos ? n : end + close.size();
      blank(i + 1, end);
      i = end;
    } else if (c == '"' || (c == '\'' && !(i > 0 && std::isxdigit(static_cast<unsigned char>(source[i - 1])) &&
                                           i + 1 < n && std::isxdigit(static_cast<unsigned char>(source[i + 1]))))) {
      // A string or character literal (a ' between two hex digits is a digit separator).
      size_t k = i + 1;
      while (k < n && source[k] != c && source[k] != '\n') k += source[k] == '\\' ? 2 : 1;
      blank(i + 1, k);
      i = k + 1;
    } else {
      ++i;
    }
  }
  return out;
}

std::set<std::string> IncludedStdHeaders(std::string_view source) {
  std::set<std::string> headers;
  size_t pos = 0;
  while (pos < source.size()) {
    size_t end = source.find('\n', pos);
    if (end == std::string_view::npos) end = source.size();
    std::string_view line = source.substr(pos, end - pos);
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string_view::npos && line[first] == '#') {
      line.remove_prefix(first + 1);
      const size_t word = line.find_first_not_of(" \t");
      if (word != std::string_view::npos && line.substr(word, 7) == "include") {
        const size_t open = line.find('<', word);
        const size_t close = line.find('>', word);
        if (open != std::string_view::npos && close != std::string_view::npos && open < close) {
          headers.emplace(line.substr(open + 1, close - open - 1));
        }
      }
    }
    pos = end + 1;
  }
  return headers;
}

std::vector<MissingStdInclude> FindMissingStdIncludes(std::string_view source,
                                                      const std::set<std::string>& also_included) {
  std::set<std::string> have = IncludedStdHeaders(source);
  have.insert(also_included.begin(), also_included.end());
  const std::string code = StripCommentsAndLiterals(source);
  const auto& table = StdFacilities();

  std::vector<MissingStdInclude> missing;
  std::set<std::string> reported;
  int line = 1;
  size_t i = 0;
  while (i < code.size()) {
    const char c = code[i];
    if (c == '\n') {
      ++line;
      ++i;
      continue;
    }
    // Preprocessor lines (#include <string> itself) are not uses.
    if (c == '#') {
      while (i < code.size() && code[i] != '\n') ++i;
      continue;
    }
    if (!IsIdentChar(c) || (i > 0 && IsIdentChar(code[i - 1]))) {
      ++i;
      continue;
    }
    size_t end = i;
    while (end < code.size() && IsIdentChar(code[end])) ++end;
    const std::string_view word(code.data() + i, end - i);
    std::string symbol;
    std::string_view name;
    // `std :: name`, as long as `std` is not itself qualified (foo::std::x).
    const bool qualified_before = i >= 2 && code[i - 1] == ':' && code[i - 2] == ':';
    if (word == "std" && !qualified_before) {
      size_t k = end;
      while (k < code.size() && (code[k] == ' ' || code[k] == '\t')) ++k;
      if (k + 1 < code.size() && code[k] == ':' && code[k + 1] == ':') {
        k += 2;
        while (k < code.size() && (code[k] == ' ' || code[k] == '\t')) ++k;
        size_t name_end = k;
        while (name_end < code.size() && IsIdentChar(code[name_end])) ++name_end;
        name = std::string_view(code.data() + k, name_end - k);
        symbol = "std::" + std::string(name);
        end = name_end;
      }
    } else if (!qualified_before && CountsUnqualified(word)) {
      // Unqualified, and not a member (x.int64_t never happens; x->errno neither).
      name = word;
      symbol = std::string(word);
    }
    if (!name.empty()) {
      const auto it = table.find(name);
      if (it != table.end()) {
        const std::vector<std::string>& headers = it->second;
        const bool satisfied = std::any_of(headers.begin(), headers.end(),
                                           [&](const std::string& h) { return have.count(h) > 0; });
        if (!satisfied && reported.insert(headers.front()).second) {
          missing.push_back({line, symbol, headers.front()});
        }
      }
    }
    i = end;
  }
  return missing;
}

std::string AddStdIncludes(std::string_view source, const std::set<std::string>& headers) {
  if (headers.empty()) return std::string(source);
  std::vector<std::string> lines;
  {
    size_t pos = 0;
    while (pos <= source.size()) {
      size_t end = source.find('\n', pos);
      if (end == std::string_view::npos) {
        if (pos < source.size()) lines.emplace_back(source.substr(pos));
        break;
      }
      lines.emplace_back(source.substr(pos, end - pos));
      pos = end + 1;
    }
  }
  const auto is_std_include = [](const std::string& l) {
    if (l.rfind("#include <", 0) != 0) return false;
    const size_t close = l.find('>');
    if (close == std::string::npos) return false;
    const std::string name = l.substr(10, close - 10);
    return name.find('/') == std::string::npos && name.find('.') == std::string::npos;
  };
  std::vector<std::string> added;
  for (const std::string& h : headers) added.push_back("#include <" + h + ">");

  // Into the first block of standard includes, kept sorted.
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!is_std_include(lines[i])) continue;
    size_t j = i;
    while (j < lines.size() && is_std_include(lines[j])) ++j;
    std::vector<std::string> block(lines.begin() + i, lines.begin() + j);
    block.insert(block.end(), added.begin(), added.end());
    std::sort(block.begin(), block.end());
    block.erase(std::unique(block.begin(), block.end()), block.end());
    lines.erase(lines.begin() + i, lines.begin() + j);
    lines.insert(lines.begin() + i, block.begin(), block.end());
    added.clear();
    break;
  }
  if (!added.empty()) {
    // A new block: after `#pragma once` (a header) or the file's own header include (a .cc),
    // else before the first include, else at the top.
    size_t at = 0;
    bool found = false;
    for (size_t i = 0; i < lines.size() && !found; ++i) {
      if (lines[i].rfind("#pragma once", 0) == 0) {
        at = i + 1;
        found = true;
      }
    }
    for (size_t i = 0; i < lines.size() && !found; ++i) {
      if (lines[i].rfind("#include", 0) == 0) {
        at = lines[i].rfind("#include \"", 0) == 0 ? i + 1 : i;
        found = true;
      }
    }
    std::vector<std::string> block;
    if (at > 0 && !lines[at - 1].empty()) block.emplace_back("");
    block.insert(block.end(), added.begin(), added.end());
    if (at < lines.size() && !lines[at].empty()) block.emplace_back("");
    lines.insert(lines.begin() + at, block.begin(), block.end());
  }
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  if (!source.empty() && source.back() != '\n' && !out.empty()) out.pop_back();
  return out;
}

}  // namespace align::tools
