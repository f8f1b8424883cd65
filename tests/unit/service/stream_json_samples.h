// Shared by the stream_json tests: the reference a line is judged by (json::parse), sample
// lines of every kind and their cuts and one-byte changes, a sink that records what Scan
// tells it, and Closes read a byte at a time (its contract, the reference for Closes and for
// the values Scan skims).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "service/runtimes/stream_json.h"
#include "unit/service/agent_fixtures.h"

namespace overseer::service::stream_json::testing {

using service::testing::FixtureLines;

inline bool ParsesToObject(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  return !ec && v.is_object();
}

// Lines of every kind: each fixture's, and broken, odd or deep ones.
inline std::vector<std::string> SampleLines() {
  std::vector<std::string> lines;
  for (const char* name :
       {"claude_tool_bash.jsonl", "claude_permission_denied.jsonl", "claude_api_error_500.jsonl",
        "codex_tool_exec.jsonl", "codex_unknown_model_tool.jsonl"}) {
    for (const std::string& l : FixtureLines(name)) lines.push_back(l);
  }
  for (const std::string& l : std::vector<std::string>{
           "",
           " ",
           "{}",
           "[]",
           "[1,2]",
           "\"s\"",
           "42",
           "null",
           "{} ",
           " {}",
           "{}\r",
           "{}\r\r",
           "{}{}",
           "{\"a\":1,}",
           "{\"a\":01}",
           "{\"a\":1e400}",
           "{\"a\":-0.0e-7}",
           "{\"a\":\"\\ud800\"}",
           "{\"a\":\"\xed\xa0\x80\"}",
           "{\"a\":\"\xf4\x90\x80\x80\"}",
           "{\"a\":\"\\u00e9\\n\\\"\"}",
           "{\"a\":/*c*/1}",
           "{\"a\":tru}",
           "{\"a\" 1}",
           std::string(32, '[') + std::string(32, ']'),
           "{\"a\":" + std::string(31, '[') + std::string(31, ']') + "}",
           "{\"a\":" + std::string(32, '[') + std::string(32, ']') + "}",
           "{\"k\":\"" + std::string(100000, 'v') + "\"}",
       }) {
    lines.push_back(l);
  }
  return lines;
}

// The lines, every cut of each, and each with one byte changed all along it (every `step`
// bytes).
inline std::vector<std::string> Mutations(const std::vector<std::string>& lines, size_t step) {
  std::vector<std::string> out;
  for (const std::string& line : lines) {
    if (line.size() > 5000) continue;
    out.push_back(line);
    for (size_t n = 0; n < line.size(); n += step) out.push_back(line.substr(0, n));
    for (size_t i = 0; i < line.size(); i += step) {
      for (char c : {'"', '}', ']', ',', ':', '\\', '1', '.', 'e', '-', ' ', 'x', '\x01', '\xc3',
                     '\xed', '\xff', '{', '['}) {
        std::string m = line;
        m[i] = c;
        out.push_back(m);
      }
    }
  }
  return out;
}

// A sink that keeps what it was told, field by field (the last value of each).
class Recorder final : public ScanSink {
 public:
  bool OnValue(int field, const ScanValue& v) override {
    seen[field].push_back(v);
    return true;
  }
  std::map<int, std::vector<ScanValue>> seen;
};

// The paths the Scan tests read (AllPaths), also as written (AllPathNames in the skim tests).
#define OVERSEER_TEST_SCAN_PATHS                                                                 \
  "type", "subtype", "event.type", "event.usage.output_tokens", "message.id", "message.usage",   \
      "message.usage.input_tokens", "message.content[].text", "usage.input_tokens", "num_turns", \
      "is_error"

inline const ScanPaths& AllPaths() {
  static const ScanPaths paths{OVERSEER_TEST_SCAN_PATHS};
  return paths;
}

// Closes as its header says it, a byte at a time.
inline bool ClosesByHand(std::string_view line, size_t from, int depth, int watch_depth,
                         const std::vector<std::string_view>& watched) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes || from > line.size()) return false;
  std::string open(static_cast<size_t>(depth), '{');
  bool in_string = false;
  size_t start = 0;
  size_t string_depth = 0;
  for (size_t i = from; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 0x20 || c > 0x7f) return false;
    if (in_string) {
      if (c == '\\') {
        if (string_depth <= static_cast<size_t>(watch_depth)) return false;
        ++i;  // the escaped byte, whatever it is (but not a control or non-ASCII byte)
        if (i < line.size() && (static_cast<unsigned char>(line[i]) < 0x20 ||
                                static_cast<unsigned char>(line[i]) > 0x7f)) {
          return false;
        }
      } else if (c == '"') {
        in_string = false;
        if (string_depth <= static_cast<size_t>(watch_depth) &&
            std::find(watched.begin(), watched.end(), line.substr(start, i - start)) !=
                watched.end()) {
          return false;
        }
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
      start = i + 1;
      string_depth = open.size();
    } else if (c == '\\') {
      return false;
    } else if (c == '{' || c == '[') {
      if (open.size() >= 31) return false;
      open += static_cast<char>(c);
    } else if (c == '}' || c == ']') {
      if (open.back() != (c == '}' ? '{' : '[')) return false;
      open.pop_back();
      if (open.empty()) return i + 1 == line.size();
    }
  }
  return false;
}

// Lines with runs of backslashes and quotes at every offset across the 64-byte blocks Closes
// reads.
inline std::vector<std::string> EscapeLines() {
  std::vector<std::string> lines;
  for (size_t k = 0; k < 140; ++k) {
    for (const char* run : {"\\\\", "\\\"", "\\\\\\\\", "\\\\\\\"", "\\\\\\\\\\\"", "\\u0041", "\"",
                            "\"}", "\"]", "{", "[{\"type\":\"x\"}]"}) {
      lines.push_back("{\"a\":\"" + std::string(k, 'x') + run + "\",\"b\":[{\"c\":\"d\"}]}");
      lines.push_back("{\"" + std::string(k, 'y') + "\":{\"t\":\"" + run + "\"},\"type\":1}");
    }
  }
  return lines;
}

}  // namespace overseer::service::stream_json::testing
