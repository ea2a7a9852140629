#include "common/prepare/utf8_repair.h"

#include <cstdint>

namespace align::prepare {

int RepairUtf8(absl::string_view s, std::string* out) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  out->clear();
  out->reserve(s.size());
  int replaced = 0;
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {
      out->push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    size_t len = 0;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;  // no surrogates
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;  // <= U+10FFFF
    }
    size_t j = 1;
    if (len > 0) {
      for (; j < len && i + j < s.size(); ++j) {
        const uint8_t c = static_cast<uint8_t>(s[i + j]);
        if (c < lo || c > hi) break;
        lo = 0x80, hi = 0xBF;
      }
    }
    if (len > 0 && j == len) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      out->append(kReplacement);
      ++replaced;
      i += j;
    }
  }
  return replaced;
}

}  // namespace align::prepare
