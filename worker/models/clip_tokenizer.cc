#include "worker/models/clip_tokenizer.h"

#include <algorithm>
#include <queue>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/diffusers/model_folder.h"
#include "common/file_util.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace align::models {
namespace {

// ---------------------------------------------------------------------------
// Unicode data (generated tables) and the few properties the pipeline needs.

struct CodeRange {
  char32_t first, last;
};
struct CombiningRun {
  char32_t first, last;
  uint8_t ccc;
};
struct LowerRun {
  char32_t first, last;
  int32_t stride, delta;
};
struct Composition {
  char32_t first, second, composite;
};
struct Decomposition {
  char32_t code, first, second;  // second 0: a singleton
};

#include "worker/models/clip_tokenizer_unicode.inc"

template <typename T, size_t N>
const T* FindRun(const T (&table)[N], char32_t c) {
  const T* it = std::upper_bound(table, table + N, c,
                                 [](char32_t v, const T& run) { return v < run.first; });
  if (it == table) return nullptr;
  --it;
  return c <= it->last ? it : nullptr;
}

bool IsLetter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return FindRun(kLetterRanges, c) != nullptr;
}

bool IsNumber(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return FindRun(kNumberRanges, c) != nullptr;
}

// Unicode White_Space, which is what `\s` matches in the reference's regex
// engine (Oniguruma, Unicode mode).
bool IsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

uint8_t CombiningClass(char32_t c) {
  if (c < 0x300) return 0;
  const CombiningRun* run = FindRun(kCombiningClasses, c);
  return run ? run->ccc : 0;
}

void AppendLowercase(char32_t c, std::vector<char32_t>& out) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  if (c == 0x130) {  // LATIN CAPITAL LETTER I WITH DOT ABOVE -> i + COMBINING DOT ABOVE
    out.push_back(0x69);
    out.push_back(0x307);
    return;
  }
  const LowerRun* run = FindRun(kLowercaseRuns, c);
  if (run && (c - run->first) % run->stride == 0) {
    out.push_back(static_cast<char32_t>(static_cast<int64_t>(c) + run->delta));
  } else {
    out.push_back(c);
  }
}

// --- NFC (UAX #15): full canonical decomposition (tables + Hangul), canonical
// ordering, canonical composition. Exact for Unicode 14 except that CJK
// compatibility ideographs are not mapped to their unified ideographs.

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
                   kSCount = kLCount * kNCount;

const std::vector<Composition>& CompositionsByComposite() {
  static const std::vector<Composition>* table = [] {
    auto* v = new std::vector<Composition>(std::begin(kCompositions), std::end(kCompositions));
    std::sort(v->begin(), v->end(),
              [](const Composition& a, const Composition& b) { return a.composite < b.composite; });
    return v;
  }();
  return *table;
}

void Decompose(char32_t c, std::vector<char32_t>& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const char32_t s = c - kSBase;
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount != 0) out.push_back(kTBase + s % kTCount);
    return;
  }
  if (c >= 0xC0) {
    const auto& table = CompositionsByComposite();
    auto it = std::lower_bound(table.begin(), table.end(), c,
                               [](const Composition& e, char32_t v) { return e.composite < v; });
    if (it != table.end() && it->composite == c) {
      Decompose(it->first, out);
      Decompose(it->second, out);
      return;
    }
    const Decomposition* end = std::end(kOtherDecompositions);
    const Decomposition* other = std::lower_bound(
        std::begin(kOtherDecompositions), end, c, [](const Decomposition& e, char32_t v) { return e.code < v; });
    if (other != end && other->code == c) {
      Decompose(other->first, out);
      if (other->second != 0) Decompose(other->second, out);
      return;
    }
  }
  out.push_back(c);
}

// The primary composite of (a, b), or 0.
char32_t Compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  }
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount) {
    return a + (b - kTBase);
  }
  const Composition* end = std::end(kCompositions);
  const Composition* it = std::lower_bound(
      std::begin(kCompositions), end, std::make_pair(a, b), [](const Composition& e, const auto& key) {
        return e.first != key.first ? e.first < key.first : e.second < key.second;
      });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

std::vector<char32_t> Nfc(const std::vector<char32_t>& text) {
  // Below U+0300 nothing decomposes into, or composes with, a later character.
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x300; })) return text;
  std::vector<char32_t> d;
  d.reserve(text.size() + 8);
  for (char32_t c : text) Decompose(c, d);
  // Canonical ordering: stable sort of each run of non-starters by class.
  for (size_t i = 0; i < d.size();) {
    if (CombiningClass(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && CombiningClass(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j,
                     [](char32_t a, char32_t b) { return CombiningClass(a) < CombiningClass(b); });
    i = j;
  }
  // Canonical composition.
  std::vector<char32_t> out;
  out.reserve(d.size());
  ptrdiff_t starter = -1;
  int last_ccc = 0;
  for (char32_t c : d) {
    const int ccc = CombiningClass(c);
    if (starter >= 0) {
      const bool adjacent = static_cast<ptrdiff_t>(out.size()) - 1 == starter;
      if (adjacent || (last_ccc != 0 && last_ccc < ccc)) {
        if (char32_t composite = Compose(out[starter], c)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (ccc == 0) starter = static_cast<ptrdiff_t>(out.size());
    last_ccc = ccc;
    out.push_back(c);
  }
  return out;
}

// --- UTF-8.

// Invalid input becomes U+FFFD, one per maximal subpart of an ill-formed
// sequence (Unicode ch. 3 "U+FFFD substitution of maximal subparts", which is
// what Python's decode(errors="replace") does).
std::vector<char32_t> DecodeUtf8(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    size_t len;
    char32_t cp;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2, cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3, cp = b & 0x0F;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4, cp = b & 0x07;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;  // <= U+10FFFF
    } else {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    size_t j = 1;
    for (; j < len && i + j < s.size(); ++j) {
      const uint8_t c = static_cast<uint8_t>(s[i + j]);
      if (c < lo || c > hi) break;
      lo = 0x80, hi = 0xBF;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (j == len) {
      out.push_back(cp);
      i += len;
    } else {
      out.push_back(0xFFFD);
      i += j;
    }
  }
  return out;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::u32string ToU32(std::string_view ascii_or_utf8) {
  std::vector<char32_t> cps = DecodeUtf8(ascii_or_utf8);
  return std::u32string(cps.begin(), cps.end());
}

// GPT-2's byte -> printable character table (bytes_to_unicode): the printable
// Latin-1 bytes map to themselves, the others to U+0100 upwards in order.
std::vector<std::string> ByteSymbols() {
  std::vector<std::string> symbols(256);
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    AppendUtf8(printable ? static_cast<char32_t>(b) : next++, symbols[b]);
  }
  return symbols;
}

// The pieces CLIP's pre-tokenizer regex
//   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
// finds (leftmost, first alternative), whitespace dropped. The two literal
// tokens are split again into "<|", name, "|>" as the reference's ByteLevel
// pre-tokenizer (GPT-2 regex) does; every other piece passes it unchanged.
std::vector<std::string> PreTokenize(const std::vector<char32_t>& t) {
  static const std::u32string kLiterals[] = {U"<|startoftext|>", U"<|endoftext|>"};
  std::vector<std::string> pieces;
  auto piece = [&](size_t from, size_t to) {
    std::string s;
    for (size_t k = from; k < to; ++k) AppendUtf8(t[k], s);
    pieces.push_back(std::move(s));
  };
  const size_t n = t.size();
  size_t i = 0;
  while (i < n) {
    const char32_t c = t[i];
    if (IsSpace(c)) {
      ++i;
      continue;
    }
    bool literal = false;
    for (const std::u32string& lit : kLiterals) {
      if (n - i >= lit.size() && std::equal(lit.begin(), lit.end(), t.begin() + i)) {
        piece(i, i + 2);
        piece(i + 2, i + lit.size() - 2);
        piece(i + lit.size() - 2, i + lit.size());
        i += lit.size();
        literal = true;
        break;
      }
    }
    if (literal) continue;
    if (c == '\'' && i + 1 < n) {
      const char32_t a = t[i + 1];
      const char32_t b = i + 2 < n ? t[i + 2] : 0;
      size_t len = 0;
      if (a == 's' || a == 't' || a == 'm' || a == 'd') {
        len = 2;
      } else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) {
        len = 3;
      }
      if (len > 0) {
        piece(i, i + len);
        i += len;
        continue;
      }
    }
    size_t j = i + 1;
    if (IsLetter(c)) {
      while (j < n && IsLetter(t[j])) ++j;
    } else if (!IsNumber(c)) {
      while (j < n && !IsSpace(t[j]) && !IsLetter(t[j]) && !IsNumber(t[j])) ++j;
    }
    piece(i, j);
    i = j;
  }
  return pieces;
}

}  // namespace

absl::StatusOr<ClipTokenizer> ClipTokenizer::Load(const std::string& dir, std::string pad_token) {
  ASSIGN_OR_RETURN(std::string vocab, ReadFileToString(diffusers::VocabPath(dir)));
  ASSIGN_OR_RETURN(std::string merges, ReadFileToString(diffusers::MergesPath(dir)));
  absl::StatusOr<ClipTokenizer> tokenizer = FromText(vocab, merges, std::move(pad_token));
  if (!tokenizer.ok()) {
    return absl::Status(tokenizer.status().code(),
                        absl::StrCat(dir, ": ", tokenizer.status().message()));
  }
  return tokenizer;
}

absl::StatusOr<ClipTokenizer> ClipTokenizer::FromText(std::string_view vocab_json,
                                                      std::string_view merges_txt,
                                                      std::string pad_token) {
  ClipTokenizer tok;
  nlohmann::json vocab = nlohmann::json::parse(vocab_json.begin(), vocab_json.end(), nullptr,
                                               /*allow_exceptions=*/false);
  if (!vocab.is_object()) return absl::InvalidArgumentError("vocab.json is not a JSON object");
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 31)) {
      return absl::InvalidArgumentError(
          absl::StrCat("vocab.json: the id of '", token, "' is not a non-negative integer"));
    }
    tok.vocab_[token] = id.get<int64_t>();
  }

  auto id_of = [&](const std::string& token) -> absl::StatusOr<int64_t> {
    auto it = tok.vocab_.find(token);
    if (it == tok.vocab_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("vocab.json has no entry '", token, "'"));
    }
    return it->second;
  };
  ASSIGN_OR_RETURN(tok.bos_id_, id_of(kStartOfText));
  ASSIGN_OR_RETURN(tok.eos_id_, id_of(kEndOfText));
  tok.unk_id_ = tok.eos_id_;
  if (pad_token.empty()) return absl::InvalidArgumentError("the pad token is empty");
  ASSIGN_OR_RETURN(tok.pad_id_, id_of(pad_token));
  tok.pad_token_ = pad_token;

  const std::vector<std::string> byte_symbols = ByteSymbols();
  for (int b = 0; b < 256; ++b) {
    auto plain = tok.vocab_.find(byte_symbols[b]);
    auto end = tok.vocab_.find(byte_symbols[b] + "</w>");
    tok.byte_symbol_[b] = plain == tok.vocab_.end() ? -1 : plain->second;
    tok.byte_symbol_end_[b] = end == tok.vocab_.end() ? -1 : end->second;
  }

  int64_t rank = 0;
  int line_number = 0;
  for (size_t begin = 0; begin < merges_txt.size();) {
    size_t end = merges_txt.find('\n', begin);
    if (end == std::string_view::npos) end = merges_txt.size();
    std::string line(merges_txt.substr(begin, end - begin));
    begin = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (line_number == 1 && line.rfind("#version", 0) == 0)) continue;
    std::vector<std::string> parts = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("merges.txt line ", line_number, ": expected two symbols, got '", line, "'"));
    }
    absl::StatusOr<int64_t> left = id_of(parts[0]), right = id_of(parts[1]),
                            merged = id_of(parts[0] + parts[1]);
    for (const auto* id : {&left, &right, &merged}) {
      if (!id->ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("merges.txt line ", line_number, ": ", id->status().message()));
      }
    }
    // A repeated pair takes its last rank, as the reference's dict does.
    tok.merges_[static_cast<uint64_t>(*left) << 32 | static_cast<uint64_t>(*right)] = Merge{rank++, *merged};
  }

  // Special tokens, matched in the raw text, leftmost then longest.
  std::vector<std::string> specials = {kStartOfText, kEndOfText};
  if (pad_token != kStartOfText && pad_token != kEndOfText) specials.push_back(pad_token);
  std::sort(specials.begin(), specials.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const std::string& s : specials) {
    tok.specials_.push_back(ToU32(s));
    tok.special_ids_.push_back(tok.vocab_.at(s));
  }
  return tok;
}

int64_t ClipTokenizer::TokenId(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? -1 : it->second;
}

const ClipTokenizer::Merge* ClipTokenizer::FindMerge(int64_t left, int64_t right) const {
  auto it = merges_.find(static_cast<uint64_t>(left) << 32 | static_cast<uint64_t>(right));
  return it == merges_.end() ? nullptr : &it->second;
}

// BPE as the reference's `tokenizers` Word::merge_all: a queue of candidate
// pairs ordered by merge rank then position; stale entries are skipped.
void ClipTokenizer::EncodeWord(const std::string& word, std::vector<int64_t>& ids) const {
  struct Symbol {
    int64_t id;
    ptrdiff_t prev, next;
    bool alive;
  };
  struct Candidate {
    int64_t rank;
    ptrdiff_t pos;
    int64_t new_id;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  const ptrdiff_t n = static_cast<ptrdiff_t>(word.size());
  if (n == 0) return;
  std::vector<Symbol> symbols(n);
  for (ptrdiff_t i = 0; i < n; ++i) {
    const uint8_t b = static_cast<uint8_t>(word[i]);
    const int64_t id = i + 1 == n ? byte_symbol_end_[b] : byte_symbol_[b];
    symbols[i] = Symbol{id < 0 ? unk_id_ : id, i - 1, i + 1 == n ? -1 : i + 1, true};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](ptrdiff_t pos) {
    if (pos < 0 || symbols[pos].next < 0) return;
    if (const Merge* m = FindMerge(symbols[pos].id, symbols[symbols[pos].next].id)) {
      queue.push(Candidate{m->rank, pos, m->new_id});
    }
  };
  for (ptrdiff_t i = 0; i + 1 < n; ++i) push(i);
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.pos];
    if (!left.alive || left.next < 0) continue;
    Symbol& right = symbols[left.next];
    const Merge* m = FindMerge(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next >= 0) symbols[left.next].prev = top.pos;
    push(left.prev);
    push(top.pos);
  }
  for (ptrdiff_t i = 0; i >= 0; i = symbols[i].next) ids.push_back(symbols[i].id);
}

void ClipTokenizer::EncodeSegment(const std::vector<char32_t>& text, std::vector<int64_t>& ids) const {
  if (text.empty()) return;
  // Normaliser: NFC, whitespace runs -> " " (unobservable: the pre-tokenizer
  // drops whitespace), lower-case character by character.
  std::vector<char32_t> lower;
  lower.reserve(text.size());
  for (char32_t c : Nfc(text)) AppendLowercase(c, lower);
  for (const std::string& word : PreTokenize(lower)) EncodeWord(word, ids);
}

std::vector<int64_t> ClipTokenizer::Tokenize(std::string_view text) const {
  const std::vector<char32_t> cps = DecodeUtf8(text);
  std::vector<int64_t> ids;
  std::vector<char32_t> segment;
  for (size_t i = 0; i < cps.size();) {
    size_t matched = specials_.size();
    for (size_t k = 0; k < specials_.size(); ++k) {
      const std::u32string& s = specials_[k];
      if (cps.size() - i >= s.size() && std::equal(s.begin(), s.end(), cps.begin() + i)) {
        matched = k;
        break;
      }
    }
    if (matched == specials_.size()) {
      segment.push_back(cps[i++]);
      continue;
    }
    EncodeSegment(segment, ids);
    segment.clear();
    ids.push_back(special_ids_[matched]);
    i += specials_[matched].size();
  }
  EncodeSegment(segment, ids);
  return ids;
}

std::vector<int64_t> ClipTokenizer::Encode(std::string_view text, int max_length) const {
  const size_t length = static_cast<size_t>(std::max(max_length, 2));
  std::vector<int64_t> tokens = Tokenize(text);
  if (tokens.size() > length - 2) tokens.resize(length - 2);
  std::vector<int64_t> ids;
  ids.reserve(length);
  ids.push_back(bos_id_);
  ids.insert(ids.end(), tokens.begin(), tokens.end());
  ids.push_back(eos_id_);
  ids.resize(length, pad_id_);
  return ids;
}

}  // namespace align::models
