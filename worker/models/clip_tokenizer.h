#pragma once
// CLIP's byte-level BPE tokenizer as transformers 5's CLIPTokenizer (the
// `tokenizers`-backed one) runs it for SDXL's two text encoders: special
// tokens split out of the raw text, NFC, whitespace runs -> " ", lower-case,
// CLIP's pre-tokenizer regex, byte-level symbols with `</w>` on each word's
// last symbol, BPE merges by rank, then <|startoftext|> ids <|endoftext|>,
// truncated and padded to max_length. See docs/text-encoders.md for where the
// hand-written Unicode handling may differ from the reference.
// Free of LibTorch.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"

namespace align::models {

class ClipTokenizer {
 public:
  static constexpr char kStartOfText[] = "<|startoftext|>";
  static constexpr char kEndOfText[] = "<|endoftext|>";

  // Reads `dir/vocab.json` and `dir/merges.txt` (a tokenizer/ or tokenizer_2/
  // folder). `pad_token` is "<|endoftext|>" for SDXL's first tokenizer and "!"
  // for its second; it must be in the vocabulary. As in the reference, the pad
  // token is a special token: it is matched in the text before normalisation
  // (so with pad "!", "!!" gives two "!" ids rather than the merged "!!").
  static absl::StatusOr<ClipTokenizer> Load(const std::string& dir,
                                            std::string pad_token = kEndOfText);
  // The same from the files' contents.
  static absl::StatusOr<ClipTokenizer> FromText(std::string_view vocab_json, std::string_view merges_txt,
                                                std::string pad_token = kEndOfText);

  // <|startoftext|> + tokens + <|endoftext|>, the tokens truncated so that the
  // result has at most max_length ids (the final <|endoftext|> is kept), then
  // padded with the pad id to exactly max_length (padding="max_length",
  // truncation=True). max_length below 2 is taken as 2. `text` is UTF-8;
  // invalid bytes become U+FFFD (one per maximal invalid subsequence, as
  // Python's bytes.decode(errors="replace")), never an error.
  std::vector<int64_t> Encode(std::string_view text, int max_length = 77) const;
  // The token ids of `text` alone: no bos/eos, truncation or padding.
  std::vector<int64_t> Tokenize(std::string_view text) const;

  int64_t bos_id() const { return bos_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t pad_id() const { return pad_id_; }
  const std::string& pad_token() const { return pad_token_; }
  int64_t vocab_size() const { return static_cast<int64_t>(vocab_.size()); }
  // Id of a vocabulary entry (byte-level spelling, e.g. "a</w>"), or -1.
  int64_t TokenId(const std::string& token) const;

 private:
  struct Merge {
    int64_t rank;
    int64_t new_id;
  };

  ClipTokenizer() = default;
  // Normalises and pre-tokenises one piece of text between special tokens and
  // appends the BPE ids of every word.
  void EncodeSegment(const std::vector<char32_t>& text, std::vector<int64_t>& ids) const;
  void EncodeWord(const std::string& utf8_word, std::vector<int64_t>& ids) const;
  const Merge* FindMerge(int64_t left, int64_t right) const;

  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<uint64_t, Merge> merges_;  // key: left id << 32 | right id
  int64_t byte_symbol_[256] = {};               // id of a byte's symbol, -1 if absent
  int64_t byte_symbol_end_[256] = {};           // id of the same + "</w>"
  std::vector<std::u32string> specials_;        // matched in the raw text, longest first
  std::vector<int64_t> special_ids_;
  std::string pad_token_;
  int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
};

}  // namespace align::models
