#include "worker/models/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"

namespace align::models {
namespace {

const std::string kGolden = std::string(ALIGN_GOLDEN_DIR) + "/tokenizer";

ClipTokenizer Load(const std::string& pad) {
  auto tok = ClipTokenizer::Load(kGolden + "/tokenizer", pad);
  EXPECT_TRUE(tok.ok()) << tok.status();
  return *tok;
}

nlohmann::json Expected() {
  std::ifstream in(kGolden + "/expected.json");
  return nlohmann::json::parse(in);
}

TEST(ClipTokenizerTest, MatchesTransformersForBothPadTokens) {
  const nlohmann::json expected = Expected();
  const auto& prompts = expected.at("prompts");
  int compared = 0;
  for (const std::string pad : {"<|endoftext|>", "!"}) {
    ClipTokenizer tok = Load(pad);
    EXPECT_EQ(tok.vocab_size(), expected.at("vocab_size").get<int64_t>());
    const auto& cases = expected.at("cases").at("pad=" + pad);
    ASSERT_EQ(cases.size(), prompts.size());
    for (size_t i = 0; i < prompts.size(); ++i) {
      const std::string prompt = prompts[i].get<std::string>();
      EXPECT_EQ(tok.Encode(prompt), cases[i].get<std::vector<int64_t>>())
          << "pad " << pad << ", prompt " << i << ": " << prompt;
      ++compared;
    }
  }
  EXPECT_EQ(compared, 16);
}

TEST(ClipTokenizerTest, PadTokenBangIsASpecialToken) {
  ClipTokenizer eos_pad = Load("<|endoftext|>");
  ClipTokenizer bang_pad = Load("!");
  const int64_t bang = bang_pad.TokenId("!");
  ASSERT_GE(bang, 0);
  EXPECT_EQ(bang_pad.pad_id(), bang);
  EXPECT_EQ(bang_pad.Tokenize("!!"), (std::vector<int64_t>{bang, bang}));
  // Without the special token, "!!" is one word: merged (or at least not two bare "!").
  EXPECT_NE(eos_pad.Tokenize("!!"), (std::vector<int64_t>{bang, bang}));
}

TEST(ClipTokenizerTest, LayoutAndTruncation) {
  ClipTokenizer tok = Load("<|endoftext|>");
  std::string long_text;
  for (int i = 0; i < 200; ++i) long_text += "a ";
  for (int max_length : {77, 10, 2, 0}) {
    std::vector<int64_t> ids = tok.Encode(long_text, max_length);
    const size_t n = std::max(max_length, 2);
    ASSERT_EQ(ids.size(), n);
    EXPECT_EQ(ids.front(), tok.bos_id());
    EXPECT_EQ(ids.back(), tok.eos_id());
  }
  std::vector<int64_t> empty = tok.Encode("");
  ASSERT_EQ(empty.size(), 77u);
  EXPECT_EQ(empty[0], tok.bos_id());
  EXPECT_EQ(empty[1], tok.eos_id());

  ClipTokenizer bang = Load("!");
  std::vector<int64_t> padded = bang.Encode("a");
  EXPECT_EQ(padded[2], bang.eos_id());
  EXPECT_EQ(padded[3], bang.pad_id());
  EXPECT_EQ(padded[76], bang.pad_id());
}

TEST(ClipTokenizerTest, NormalisesCaseWhitespaceAndComposition) {
  ClipTokenizer tok = Load("<|endoftext|>");
  EXPECT_EQ(tok.Encode("A  Cute\t\n CORGI  "), tok.Encode("a cute corgi"));
  EXPECT_EQ(tok.Encode("CAF\xC3\x89"), tok.Encode("caf\xC3\xA9"));           // É -> é
  EXPECT_EQ(tok.Encode("cafe\xCC\x81"), tok.Encode("caf\xC3\xA9"));          // e + U+0301 -> é (NFC)
  EXPECT_EQ(tok.Encode("a\xE3\x80\x80" "b"), tok.Encode("a b"));              // U+3000 is whitespace
  // U+0130 lower-cases to i + U+0307, as Rust's char::to_lowercase.
  EXPECT_EQ(tok.Tokenize("\xC4\xB0"), tok.Tokenize("i\xCC\x87"));
  // Contractions split off after lower-casing.
  EXPECT_EQ(tok.Tokenize("IT'S"), tok.Tokenize("it 's"));
}

TEST(ClipTokenizerTest, SpecialTokensInTheText) {
  ClipTokenizer tok = Load("<|endoftext|>");
  EXPECT_EQ(tok.Tokenize("a<|endoftext|>b"),
            (std::vector<int64_t>{tok.Tokenize("a")[0], tok.eos_id(), tok.Tokenize("b")[0]}));
  EXPECT_EQ(tok.Tokenize("<|startoftext|>"), std::vector<int64_t>{tok.bos_id()});
  // Not the exact spelling: lower-cased text, split like any other word.
  std::vector<int64_t> upper = tok.Tokenize("<|ENDOFTEXT|>");
  EXPECT_GT(upper.size(), 1u);
}

TEST(ClipTokenizerTest, InvalidUtf8IsReplacedNotFatal) {
  ClipTokenizer tok = Load("<|endoftext|>");
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(tok.Encode("a \xFF b"), tok.Encode("a " + replacement + " b"));
  // Maximal subparts: a truncated 3-byte sequence is one U+FFFD.
  EXPECT_EQ(tok.Encode("x\xE2\x82"), tok.Encode("x" + replacement));
  EXPECT_EQ(tok.Encode("\xED\xA0\x80"), tok.Encode(replacement + replacement + replacement));
  std::string junk;
  for (int i = 0; i < 512; ++i) junk.push_back(static_cast<char>((i * 37) & 0xFF));
  EXPECT_EQ(tok.Encode(junk).size(), 77u);
  EXPECT_EQ(tok.Encode(std::string("a\0b", 3)).size(), 77u);
}

TEST(ClipTokenizerTest, LoadErrors) {
  EXPECT_FALSE(ClipTokenizer::Load("/nonexistent").ok());
  auto bad_pad = ClipTokenizer::Load(kGolden + "/tokenizer", "<pad>");
  ASSERT_FALSE(bad_pad.ok());
  EXPECT_NE(bad_pad.status().message().find("<pad>"), std::string::npos) << bad_pad.status();

  const std::string vocab = R"({"a": 0, "b": 1, "a</w>": 2, "b</w>": 3, "ab</w>": 4,
                               "<|startoftext|>": 5, "<|endoftext|>": 6})";
  auto ok = ClipTokenizer::FromText(vocab, "#version: 0.2\na b</w>\n");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->Tokenize("ab ba"), (std::vector<int64_t>{4, 1, 2}));
  auto bad_merge = ClipTokenizer::FromText(vocab, "#version: 0.2\na b\n");  // "ab" not in vocab
  ASSERT_FALSE(bad_merge.ok());
  EXPECT_NE(bad_merge.status().message().find("line 2"), std::string::npos) << bad_merge.status();
  EXPECT_FALSE(ClipTokenizer::FromText(vocab, "a b c\n").ok());
  EXPECT_FALSE(ClipTokenizer::FromText("[1, 2]", "").ok());
  EXPECT_FALSE(ClipTokenizer::FromText(R"({"a": 0})", "").ok());  // no <|startoftext|>
}

}  // namespace
}  // namespace align::models
