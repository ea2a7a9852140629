// The standard-include check (tests/tools/std_includes.h): what counts as a use, what
// satisfies it, and the fix.

#include "tests/tools/std_includes.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

namespace align::tools {
namespace {

TEST(StdIncludesTest, FixedWidthIntegerWithoutCstdintIsMissing) {
  // The case that broke a g++ 13 build: bench.h used uint64_t with only <ostream>/<string>.
  const std::string header =
      "#pragma once\n#include <ostream>\n#include <string>\n\nstruct R { uint64_t seed = 0; };\n";
  const auto missing = FindMissingStdIncludes(header, {});
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].symbol, "uint64_t");
  EXPECT_EQ(missing[0].header, "cstdint");
  EXPECT_EQ(missing[0].line, 5);
}

TEST(StdIncludesTest, DirectIncludeOrOwnHeaderSatisfies) {
  EXPECT_TRUE(FindMissingStdIncludes("#include <cstdint>\nint64_t x;\n", {}).empty());
  EXPECT_TRUE(FindMissingStdIncludes("std::vector<int> v;\n", {"vector"}).empty());
  EXPECT_EQ(FindMissingStdIncludes("std::vector<int> v;\n", {"string"}).size(), 1u);
}

TEST(StdIncludesTest, AnyOfSeveralHeadersSatisfies) {
  // std::ostream is declared by <ostream>, and reachable by contract through <iostream>.
  EXPECT_TRUE(FindMissingStdIncludes("#include <iostream>\nvoid f(std::ostream& o);\n", {}).empty());
  EXPECT_EQ(FindMissingStdIncludes("void f(std::ostream& o);\n", {}).at(0).header, "ostream");
}

TEST(StdIncludesTest, CommentsStringsAndOtherNamespacesAreNotUses) {
  const std::string source =
      "// a std::vector in a comment, uint64_t too\n"
      "/* std::map<int, int> */\n"
      "const char* s = \"std::string and int32_t\";\n"
      "const char* r = R\"x(std::optional \" uint8_t)x\";\n"
      "char c = '\"'; int n = 1'000;\n"
      "my::std::vector<int> v; at::int64_t_like w; c10::optional<int> o;\n"
      "#include <vector>  // directives are not uses\n";
  const auto missing = FindMissingStdIncludes(source, {});
  EXPECT_TRUE(missing.empty()) << missing.front().symbol;
}

TEST(StdIncludesTest, QualifiedUsesAreFoundWithSpacesAndReportedOncePerHeader) {
  const std::string source = "std :: unique_ptr<int> a;\nstd::make_unique<int>();\nstd::chrono::seconds s;\n";
  const auto missing = FindMissingStdIncludes(source, {});
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(missing[0].header, "memory");
  EXPECT_EQ(missing[0].line, 1);
  EXPECT_EQ(missing[1].header, "chrono");
  EXPECT_EQ(missing[1].line, 3);
}

TEST(StdIncludesTest, FixAddsIntoTheSortedStandardBlock) {
  const std::string source =
      "#include \"a/own.h\"\n\n#include <string>\n#include <vector>\n\n#include \"b/c.h\"\n";
  EXPECT_EQ(AddStdIncludes(source, {"cstdint", "map"}),
            "#include \"a/own.h\"\n\n#include <cstdint>\n#include <map>\n#include <string>\n"
            "#include <vector>\n\n#include \"b/c.h\"\n");
}

TEST(StdIncludesTest, FixStartsABlockAfterPragmaOnceOrTheOwnHeader) {
  EXPECT_EQ(AddStdIncludes("#pragma once\n\n#include \"x.h\"\n", {"cstdint"}),
            "#pragma once\n\n#include <cstdint>\n\n#include \"x.h\"\n");
  EXPECT_EQ(AddStdIncludes("#include \"own.h\"\n\n#include <torch/torch.h>\n", {"vector"}),
            "#include \"own.h\"\n\n#include <vector>\n\n#include <torch/torch.h>\n");
  const std::string fixed = AddStdIncludes("#pragma once\nstruct R { uint64_t s; };\n", {"cstdint"});
  EXPECT_TRUE(FindMissingStdIncludes(fixed, {}).empty()) << fixed;
}

}  // namespace
}  // namespace align::tools
