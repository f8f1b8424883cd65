// stream_json's internal block classification (not a public interface): the quotes,
// backslashes, brackets and refused bytes of 64 bytes of a line as bit masks, and simdjson's
// escape and prefix-xor tricks to find the strings among them. Shared by Closes (a skipped
// line's shape) and Scan (the values no path reads); SSE2 where built with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace overseer::service::stream_json::blocks {

// The bytes of one 64-byte block of a line Closes looks at, a bit each (bit n: byte n).
struct Block {
  uint64_t quote = 0;
  uint64_t slash = 0;
  uint64_t bracket = 0;  // { [ } ]
  uint64_t bad = 0;      // below 0x20 or above 0x7f
};

// `p` has 64 bytes.
inline Block Classify64(const char* p) {
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

// The block of the line [begin, end) that starts at `at` (begin <= at < end): where fewer than
// 64 bytes are left, the line's last 64 bytes shifted down past those already seen, or (a line
// under 64 bytes) the rest padded with spaces.
inline Block ClassifyAt(const char* begin, const char* at, const char* end) {
  // One call of Classify64 (its code once, not once per case: the code is cold between lines).
  const auto left = static_cast<size_t>(end - at);
  char tail[64];
  const char* p = at;
  size_t seen = 0;  // bytes of the block read that come before `at`
  if (left < 64) {
    if (end - begin >= 64) {
      p = end - 64;
      seen = 64 - left;
    } else {
      std::memset(tail, ' ', sizeof tail);
      std::memcpy(tail, at, left);
      p = tail;
    }
  }
  Block b = Classify64(p);
  b.quote >>= seen;
  b.slash >>= seen;
  b.bracket >>= seen;
  b.bad >>= seen;
  return b;
}

// The bytes a backslash escapes, given the block's backslashes; `carry`: whether the first byte
// is escaped (the last block ended in an odd run of backslashes), updated for the next block.
// (simdjson's find_escaped_branchless.)
inline uint64_t Escaped(uint64_t slash, uint64_t& carry) {
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
inline uint64_t PrefixXor(uint64_t x) {
  x ^= x << 1;
  x ^= x << 2;
  x ^= x << 4;
  x ^= x << 8;
  x ^= x << 16;
  x ^= x << 32;
  return x;
}

// What a skim of an unread value found.
enum class Skimmed {
  kWhole,     // its strings and brackets close (the tokens between them unchecked)
  kBroken,    // they do not (or nested over the limit): the line is not vouched for
  kValidate,  // a byte below 0x20 or above 0x7f in it: a skim does not judge those
};

// Past the container at `p` ("{" or "["; the line is [begin, end)), `depth` containers deep with
// it, nested at most `max_depth` deep: its strings close, its brackets close in order (the last
// one matching `p`'s), no backslash outside a string. On kWhole, `p` is past its closing bracket.
// (stream_json_skim.cc)
Skimmed SkimContainer(const char* begin, const char*& p, const char* end, int depth, int max_depth);

}  // namespace overseer::service::stream_json::blocks
