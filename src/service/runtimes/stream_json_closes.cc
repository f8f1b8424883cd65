// stream_json::Closes: the shape check of a line nothing is read from (stream_json.h) — strings
// and brackets closed in order, read 64 bytes at a time (SSE2 where there is SSE2).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string_view>

#include "service/runtimes/stream_json.h"
#include "service/runtimes/stream_json_blocks.h"

namespace overseer::service::stream_json {

using blocks::Block;
using blocks::Escaped;
using blocks::PrefixXor;

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
      // Compared here, not by memcmp: the names are a few bytes, and a call into the library
      // on every line (its code cold between lines) cost more than the compare.
      if (s.size() != w.size()) continue;
      size_t i = 0;
      while (i < s.size() && s[i] == w[i]) ++i;
      if (i == s.size()) return false;
    }
    return true;
  };
  for (size_t at = from; at < line.size(); at += 64) {
    const Block b = blocks::ClassifyAt(line.data(), line.data() + at, line.data() + line.size());
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
