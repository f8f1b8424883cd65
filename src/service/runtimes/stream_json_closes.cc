// stream_json::Closes: the shape check of a line nothing is read from (stream_json.h) — strings
// and brackets closed in order, read 64 bytes at a time (SSE2 where there is SSE2).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "service/runtimes/stream_json.h"

namespace overseer::service::stream_json {

namespace {

// The bytes of one 64-byte block of a line Closes looks at, a bit each (bit n: byte n).
struct Block {
  uint64_t quote = 0;
  uint64_t slash = 0;
  uint64_t bracket = 0;  // { [ } ]
  uint64_t bad = 0;      // below 0x20 or above 0x7f
};

// `p` has 64 bytes.
Block Classify64(const char* p) {
  Block b;
#if defined(__SSE2__)
  // "[" and "{" (0x5b, 0x7b) differ only in bit 0x20, as do "]" and "}".
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i slash = _mm_set1_epi8('\\');
  const __m128i open = _mm_set1_epi8('{');
  const __m128i close = _mm_set1_epi8('}');
  const __m128i case_bit = _mm_set1_epi8(0x20);
  const __m128i control = _mm_set1_epi8(0x1f);
  for (int i = 0; i < 4; ++i) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16 * i));
    const __m128i folded = _mm_or_si128(x, case_bit);
    const __m128i low = _mm_cmpeq_epi8(_mm_min_epu8(x, control), x);
    const auto bits = [i](__m128i m) {
      return static_cast<uint64_t>(static_cast<unsigned>(_mm_movemask_epi8(m))) << (16 * i);
    };
    b.quote |= bits(_mm_cmpeq_epi8(x, quote));
    b.slash |= bits(_mm_cmpeq_epi8(x, slash));
    b.bracket |= bits(_mm_or_si128(_mm_cmpeq_epi8(folded, open), _mm_cmpeq_epi8(folded, close)));
    b.bad |= bits(_mm_or_si128(x, low));  // the sign bit: above 0x7f
  }
#else
  for (int i = 0; i < 64; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    const uint64_t bit = uint64_t{1} << i;
    if (c == '"') b.quote |= bit;
    if (c == '\\') b.slash |= bit;
    if (c == '{' || c == '[' || c == '}' || c == ']') b.bracket |= bit;
    if (c < 0x20 || c > 0x7f) b.bad |= bit;
  }
#endif
  return b;
}

// The bytes a backslash escapes, given the block's backslashes; `carry`: whether the first byte
// is escaped (the last block ended in an odd run of backslashes), updated for the next block.
// (simdjson's find_escaped_branchless.)
uint64_t Escaped(uint64_t slash, uint64_t& carry) {
  constexpr uint64_t kEven = 0x5555555555555555;
  slash &= ~carry;
  const uint64_t follows = (slash << 1) | carry;
  const uint64_t odd_starts = slash & ~kEven & ~follows;
  uint64_t even_runs = 0;
  carry = __builtin_add_overflow(odd_starts, slash, &even_runs) ? 1 : 0;
  return (kEven ^ (even_runs << 1)) & follows;
}

// Bit n: an odd number of the bits of x at or below n are set (with x the unescaped quotes:
// the bytes from an opening quote up to, not including, its closing one).
uint64_t PrefixXor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

}  // namespace

bool Closes(std::string_view line, size_t from, int depth, int watch_depth,
            std::initializer_list<std::string_view> watched) {
  static constexpr int kMaxDepth = 31;  // as Scan
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes || from > line.size() || depth < 1 || depth > kMaxDepth) {
    return false;
  }
  uint64_t arrays = 0;  // bit d: the container d + 1 deep is an array
  uint64_t carry = 0;   // the next block's first byte is escaped
  uint64_t inside = 0;  // all ones: the next block starts inside a string
  size_t pending = 0;   // a string near the top open at the last block's end: its text's start
  // A string near the top, its text from `begin` to `end`: not one of `watched`.
  uint64_t lengths = 0;  // bit n: a watched name of n bytes
  for (std::string_view w : watched) lengths |= uint64_t{1} << std::min<size_t>(w.size(), 63);
  const auto allowed = [&line, &watched, lengths](size_t begin, size_t end) {
    if (((lengths >> std::min<size_t>(end - begin, 63)) & 1) == 0) return true;
    const std::string_view s = line.substr(begin, end - begin);
    for (std::string_view w : watched) {
      if (s == w) return false;
    }
    return true;
  };
  char tail[64];
  for (size_t at = from; at < line.size(); at += 64) {
    Block b;
    if (line.size() - at >= 64) {
      b = Classify64(line.data() + at);
    } else if (line.size() >= 64) {  // the line's last 64 bytes, less those already seen
      b = Classify64(line.data() + line.size() - 64);
      const size_t seen = 64 - (line.size() - at);
      b.quote >>= seen;
      b.slash >>= seen;
      b.bracket >>= seen;
      b.bad >>= seen;
    } else {  // padded with spaces
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, line.data() + at, line.size() - at);
      b = Classify64(tail);
    }
    if (b.bad != 0) return false;
    const uint64_t quotes = b.quote & ~Escaped(b.slash, carry);
    const uint64_t in_string = PrefixXor(quotes) ^ inside;
    inside = static_cast<uint64_t>(static_cast<int64_t>(in_string) >> 63);
    if ((b.slash & ~in_string) != 0) return false;  // a backslash outside a string
    if (pending != 0) {
      if (quotes == 0) {  // the string goes on
        if (b.slash != 0) return false;
        continue;
      }
      const uint64_t first = quotes & -quotes;
      if ((b.slash & (first - 1)) != 0) return false;
      if (!allowed(pending, at + static_cast<size_t>(std::countr_zero(first)))) return false;
      pending = 0;
    }
    uint64_t brackets = b.bracket & ~in_string;
    uint64_t starts = quotes & in_string;  // opening quotes
    // In order: the brackets, and the strings that open inside the first watch_depth levels.
    for (;;) {
      const uint64_t next = brackets | (depth <= watch_depth ? starts : 0);
      if (next == 0) break;
      const int i = std::countr_zero(next);
      const uint64_t bit = uint64_t{1} << i;
      brackets &= ~bit;
      starts &= ~(bit | (bit - 1));  // the strings before it are deeper
      const size_t pos = at + static_cast<size_t>(i);
      const char c = line[pos];
      if (c == '{' || c == '[') {
        if (depth >= kMaxDepth) return false;
        const uint64_t array = c == '[' ? 1 : 0;
        arrays = (arrays & ~(uint64_t{1} << depth)) | (array << depth);
        ++depth;
      } else if (c == '}' || c == ']') {
        --depth;
        const uint64_t array = c == ']' ? 1 : 0;
        if (((arrays >> depth) & 1) != array) return false;
        if (depth == 0) return pos + 1 == line.size();
      } else {  // a string opening near the top: no escape, none of `watched`
        const uint64_t after = ~(bit | (bit - 1));
        const uint64_t closing = quotes & after;
        if (closing == 0) {  // it closes in a later block
          if ((b.slash & after) != 0) return false;
          pending = pos + 1;
        } else {
          if ((b.slash & after & ((closing & -closing) - 1)) != 0) return false;
          if (!allowed(pos + 1, at + static_cast<size_t>(std::countr_zero(closing)))) {
            return false;
          }
        }
      }
    }
  }
  return false;  // not closed
}

}  // namespace overseer::service::stream_json
