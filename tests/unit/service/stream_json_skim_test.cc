// stream_json::Scan on the values no path reads, which it skims for their shape: it vouches
// for a line a parse rejects only where the fault is in such a value, and then tells what it
// tells of the line without the fault.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "service/runtimes/stream_json.h"
#include "unit/service/stream_json_samples.h"

namespace overseer::service::stream_json {
namespace {

using testing::AllPaths;
using testing::ClosesByHand;
using testing::EscapeLines;
using testing::ParsesToObject;
using testing::Recorder;
using testing::SampleLines;

// AllPaths() as written, to tell the values no path reads.
const std::vector<std::string_view>& AllPathNames() {
  static const std::vector<std::string_view> names{OVERSEER_TEST_SCAN_PATHS};
  return names;
}

// Past the value at `i` of a line a parse accepts.
size_t SkipValue(std::string_view s, size_t i) {
  int depth = 0;
  bool in_string = false;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
        if (depth == 0) return i + 1;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
      return i;
    }
  }
  return i;
}

size_t SkipSpace(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

// The byte ranges of the values no path reads (a scalar's with the white space around it) in
// a line a parse accepts, walking the value at `i` (path `path`; "" the top); past it.
size_t UnreadSpans(std::string_view s, size_t i, const std::string& path,
                   std::vector<std::pair<size_t, size_t>>& out) {
  const size_t spaced = i;
  i = SkipSpace(s, i);
  bool read = path.empty();
  for (std::string_view p : AllPathNames()) {
    read = read || (p.starts_with(path) &&
                    (p.size() == path.size() || p[path.size()] == '.' || p[path.size()] == '['));
  }
  if (!read) {
    const size_t end = SkipValue(s, i);
    const bool scalar = s[i] != '"' && s[i] != '{' && s[i] != '[';
    out.emplace_back(scalar ? spaced : i, scalar ? SkipSpace(s, end) : end);
    return SkipSpace(s, end);
  }
  if (s[i] == '{') {
    i = SkipSpace(s, i + 1);
    while (s[i] != '}') {
      const size_t key_end = SkipValue(s, i);
      const std::string key(s.substr(i + 1, key_end - i - 2));
      i = SkipSpace(s, key_end) + 1;  // :
      i = UnreadSpans(s, i, path.empty() ? key : path + "." + key, out);
      if (s[i] == ',') i = SkipSpace(s, i + 1);
    }
    return SkipSpace(s, i + 1);
  }
  if (s[i] == '[') {
    i = SkipSpace(s, i + 1);
    while (s[i] != ']') {
      i = UnreadSpans(s, i, path + "[]", out);
      if (s[i] == ',') i = SkipSpace(s, i + 1);
    }
    return SkipSpace(s, i + 1);
  }
  return SkipSpace(s, SkipValue(s, i));
}

// What a Recorder was told, comparable across lines.
std::string Told(const Recorder& r) {
  std::string out;
  for (const auto& [field, values] : r.seen) {
    for (const ScanValue& v : values) {
      out += std::to_string(field) + ":" + std::to_string(static_cast<int>(v.kind)) +
             (v.escaped ? "e" : "") + "=" + std::string(v.text) + ";";
    }
  }
  return out;
}

// Every cut of a line and every line of two objects: never vouched for unless a parse accepts
// it. A line with one byte changed that a parse rejects: vouched for only if the byte lies in a
// value no path reads (a scalar's white space included) of the line unchanged, and then the
// sink is told exactly what it is told of the line unchanged.
TEST(ScanTest, VouchesForALineAParseRejectsOnlyWhereNothingIsRead) {
  int vouched = 0;
  int rejected = 0;
  int lenient = 0;
  for (const std::string& line : SampleLines()) {
    if (line.size() > 5000) continue;
    for (size_t n = 0; n < line.size(); ++n) {
      Recorder r;
      if (Scan(line.substr(0, n), AllPaths(), r) == ScanResult::kObject) {
        ASSERT_TRUE(ParsesToObject(line.substr(0, n))) << line.substr(0, n);
      }
    }
    for (const std::string& two : {line + line, line + "x", line + " {}"}) {
      Recorder r;
      if (Scan(two, AllPaths(), r) == ScanResult::kObject) {
        ASSERT_TRUE(ParsesToObject(two)) << two;
      }
    }
    Recorder whole;
    if (!ParsesToObject(line) || Scan(line, AllPaths(), whole) != ScanResult::kObject) continue;
    std::string_view trimmed = line;
    if (trimmed.ends_with('\r')) trimmed.remove_suffix(1);
    std::vector<std::pair<size_t, size_t>> spans;
    UnreadSpans(trimmed, 0, "", spans);
    for (size_t i = 0; i < line.size(); i += 3) {
      for (char c : {'"', '}', ']', ',', ':',    '\\',   '1',    '0',    '.', 'e',
                     '-', ' ', 'x', 't', '\x01', '\xc3', '\xed', '\xff', '{', '['}) {
        std::string m = line;
        m[i] = c;
        Recorder r;
        if (Scan(m, AllPaths(), r) != ScanResult::kObject) {
          rejected += !ParsesToObject(m);
          continue;
        }
        ++vouched;
        if (ParsesToObject(m)) continue;
        ++lenient;
        const bool unread = std::any_of(spans.begin(), spans.end(), [i](const auto& s) {
          return s.first <= i && i < s.second;
        });
        ASSERT_TRUE(unread) << "byte " << i << " of " << m;
        ASSERT_EQ(Told(r), Told(whole)) << m;
        // Never a byte a skim does not judge (char is signed: non-ASCII is negative).
        ASSERT_TRUE(c >= 0x20) << m;
      }
    }
  }
  EXPECT_GT(vouched, 10000);
  EXPECT_GT(rejected, 10000);
  EXPECT_GT(lenient, 100);
  std::printf("vouched %d, rejected %d, vouched though a parse rejects %d\n", vouched, rejected,
              lenient);
}

// Broken tokens in values no path reads are not looked at; the same in a value read, or in
// the objects a path goes through, are.
TEST(ScanTest, SkimsTheValuesNoPathReads) {
  for (const std::string& line : std::vector<std::string>{
           R"({"x":01,"type":"a"})",
           R"({"x":tru,"type":"a"})",
           R"({"x":1.,"y":-})",
           R"({"x":"\q\udc00"})",
           R"({"x":[1,,2],"y":{"k" 1},"z":{"a":}})",
           R"({"message":{"content":[{"input":{"k":1,}}],"model":nul}})",
           R"({"o":{"s":"}]{[" "t":"\"}"},"type":"a"})",
           R"({"o":)" + std::string(30, '[') + "tru" + std::string(30, ']') + "}",
       }) {
    Recorder r;
    EXPECT_EQ(Scan(line, AllPaths(), r), ScanResult::kObject) << line;
    EXPECT_FALSE(ParsesToObject(line)) << line;
  }
  // A `}` inside an unread string, escapes in it, deep nesting: the value read after it is the
  // parse's.
  Recorder r;
  ASSERT_EQ(Scan(R"({"o":{"s":"a}\"}b\\","n":[[{"k":"]"}]]},"type":"t\u0041"})", AllPaths(), r),
            ScanResult::kObject);
  ASSERT_EQ(r.seen[0].size(), 1u);
  EXPECT_EQ(r.seen[0][0].text, R"(t\u0041)");
  for (const std::string& line : std::vector<std::string>{
           // Broken where a path goes or in a value read.
           R"({"type":01})",
           R"({"type":tru})",
           R"({"message":{"id":"\q"}})",
           R"({"type":"a","x":1 "y":2})",
           R"({"x":1,,"type":"a"})",
           R"({"x" 1})",
           R"({"x":})",
           R"({"x":1,})",
           R"({"usage":{"input_tokens":1,}})",
           // An unread value whose strings or brackets do not close, or close wrongly.
           R"({"x":"a})",
           R"({"x":{"a":1]})",
           R"({"x":[{"a":1}})",
           R"({"x":{"s":"}"})",
           R"({"x":\"a"})",
           R"({"x":{"a":1}} x)",
           R"({"x":)" + std::string(31, '[') + std::string(31, ']') + "}",
           // Bytes a skim does not judge: read in full, as a parse reads them.
           "{\"x\":\"a\x01\"}",
           "{\"x\":{\"s\":\"\xc3\x28\"}}",
           "{\"x\":[\"\xed\xa0\x80\"]}",
           // Duplicate keys on a path, even after an unread value.
           R"({"o":{"k":[1,2]},"type":"a","type":"b"})",
           R"({"message":{"content":[{"input":{}}],"id":"a","id":"b"}})",
       }) {
    Recorder rec;
    EXPECT_EQ(Scan(line, AllPaths(), rec), ScanResult::kUnsure) << line;
  }
  // Non-ASCII in an unread value: validated, vouched for when it is UTF-8.
  Recorder u;
  EXPECT_EQ(Scan("{\"x\":{\"s\":\"caf\xc3\xa9\"},\"type\":\"a\"}", AllPaths(), u),
            ScanResult::kObject);
}

// Backslash and quote runs at every offset across the 64-byte blocks a skim reads, in unread
// strings and containers: vouched for wherever a parse accepts the line (and told what it
// reads), and where a parse does not, only if the line's strings and brackets close as Closes
// reads them byte by byte.
TEST(ScanTest, SkimsEscapeRunsAcrossBlocksAsClosesReadsThem) {
  int lenient = 0;
  for (const std::string& line : EscapeLines()) {
    Recorder r;
    const bool vouched = Scan(line, AllPaths(), r) == ScanResult::kObject;
    if (ParsesToObject(line)) {
      EXPECT_TRUE(vouched) << line;
      if (line.find("\"type\":1") != std::string::npos) {
        ASSERT_EQ(r.seen[0].size(), 1u) << line;
        EXPECT_EQ(r.seen[0][0].text, "1") << line;
      }
    } else if (vouched) {
      EXPECT_TRUE(ClosesByHand(line, 1, 1, 0, {})) << line;
      ++lenient;
    }
  }
  EXPECT_GT(lenient, 0);
}

}  // namespace
}  // namespace overseer::service::stream_json
