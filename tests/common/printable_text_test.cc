#include "common/printable_text.h"

#include <string>

#include "gtest/gtest.h"

namespace align {
namespace {

TEST(PrintableTextTest, PlainTextAndUtf8AreUnchanged) {
  EXPECT_EQ(EscapeControlCharacters("nightly dpo run #3 (β=5000) 日本"), "nightly dpo run #3 (β=5000) 日本");
  EXPECT_EQ(EscapeControlCharacters(""), "");
}

TEST(PrintableTextTest, LineBreaksCannotFakeALine) {
  EXPECT_EQ(EscapeControlCharacters("oops\n2026-01-01T00:00:00.000Z  succeeded  all good"),
            "oops\\n2026-01-01T00:00:00.000Z  succeeded  all good");
  EXPECT_EQ(EscapeControlCharacters("a\r\tb"), "a\\r\\tb");
}

TEST(PrintableTextTest, TerminalControlsAreEscaped) {
  EXPECT_EQ(EscapeControlCharacters("\x1b[2J\x07\x7f"), "\\x1b[2J\\x07\\x7f");
  EXPECT_EQ(EscapeControlCharacters(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(EscapeControlCharacters("\xc2\x9b" "31m"), "\\u009b31m");  // C1 CSI
  EXPECT_EQ(EscapeControlCharacters("\xc2\xa0"), "\xc2\xa0");            // NBSP is printable
}

TEST(PrintableTextTest, BackslashesStayUnambiguous) {
  EXPECT_EQ(EscapeControlCharacters("C:\\n"), "C:\\\\n");
}

}  // namespace
}  // namespace align
