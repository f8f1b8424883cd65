// stream_json::blocks::SkimContainer: the shape check of a container no ScanPaths path reads
// (Scan skips it as Closes skips a line: strings and brackets, 64 bytes at a time).
#include <bit>
#include <cstdint>

#include "service/runtimes/stream_json_blocks.h"

namespace overseer::service::stream_json::blocks {

Skimmed SkimContainer(const char* begin, const char*& p, const char* end, int depth,
                      int max_depth) {
  uint64_t arrays = 0;  // bit n: the container n + 1 deep in the skim is an array
  int level = 0;        // containers open in the skim
  uint64_t carry = 0;   // the next block's first byte is escaped
  uint64_t inside = 0;  // all ones: the next block starts inside a string
  for (const char* at = p; at < end; at += 64) {
    const Block b = ClassifyAt(begin, at, end);
    const uint64_t quotes = b.quote & ~Escaped(b.slash, carry);
    const uint64_t in_string = PrefixXor(quotes) ^ inside;
    inside = static_cast<uint64_t>(static_cast<int64_t>(in_string) >> 63);
    uint64_t brackets = b.bracket & ~in_string;
    uint64_t mine = ~uint64_t{0};  // the block's bytes that are the container's
    bool closed = false;
    while (brackets != 0) {
      const int i = std::countr_zero(brackets);
      brackets &= brackets - 1;
      const char c = at[i];
      if (c == '{' || c == '[') {
        if (depth + level > max_depth) return Skimmed::kBroken;
        const uint64_t array = c == '[' ? 1 : 0;
        arrays = (arrays & ~(uint64_t{1} << level)) | (array << level);
        ++level;
      } else {
        --level;
        const uint64_t array = c == ']' ? 1 : 0;
        if (((arrays >> level) & 1) != array) return Skimmed::kBroken;
        if (level == 0) {
          const uint64_t bit = uint64_t{1} << i;
          mine = bit | (bit - 1);
          p = at + i + 1;
          closed = true;
          break;
        }
      }
    }
    if ((b.bad & mine) != 0) return Skimmed::kValidate;
    if ((b.slash & ~in_string & mine) != 0) return Skimmed::kBroken;
    if (closed) return Skimmed::kWhole;
  }
  return Skimmed::kBroken;  // not closed
}

}  // namespace overseer::service::stream_json::blocks
