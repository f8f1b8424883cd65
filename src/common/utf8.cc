#include "common/utf8.h"

namespace overseer {
namespace {

// Length of the well-formed character at the start of `s` (1..4), or 0 if it is
// ill-formed; then `*subpart` is the length of its maximal subpart (1..3): the bytes that
// start a well-formed sequence but do not complete one.
size_t CharLength(std::string_view s, size_t* subpart) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  *subpart = 1;
  if (b0 < 0x80) return 1;
  size_t need = 0;
  unsigned char lo = 0x80;  // allowed range of the second byte (table 3-7)
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong form
    if (b0 == 0xED) hi = 0x9F;  // no surrogate
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 4;
    if (b0 == 0xF0) lo = 0x90;  // no overlong form
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;  // a continuation byte, C0/C1 (overlong) or F5..FF
  }
  for (size_t i = 1; i < need; ++i) {
    if (i >= s.size()) return 0;
    const auto b = static_cast<unsigned char>(s[i]);
    if (i == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
    *subpart = i + 1;
  }
  return need;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    size_t subpart = 0;
    const size_t n = CharLength(s.substr(i), &subpart);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string ValidUtf8(std::string_view s) {
  if (IsValidUtf8(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  size_t i = 0;
  while (i < s.size()) {
    size_t subpart = 0;
    const size_t n = CharLength(s.substr(i), &subpart);
    if (n == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += subpart;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string_view TruncateUtf8(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  // s[cut] is the first byte left out: while it continues a character, the cut is inside
  // that character; a character has at most three continuation bytes.
  size_t cut = max_bytes;
  for (int back = 0; back < 3 && cut > 0; ++back) {
    if ((static_cast<unsigned char>(s[cut]) & 0xC0) != 0x80) break;
    --cut;
  }
  if ((static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) cut = max_bytes;  // ill-formed
  return s.substr(0, cut);
}

std::string EchoText(std::string_view s, size_t max_bytes) {
  // Only the part that can survive the cut is repaired (U+FFFD is never shorter than the
  // bytes it replaces).
  return std::string(TruncateUtf8(ValidUtf8(s.substr(0, max_bytes + 3)), max_bytes));
}

}  // namespace overseer
