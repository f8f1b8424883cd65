// Lenient readers of the JSON lines agent CLIs print, shared by ClaudeStream and CodexStream:
// a field of the wrong type reads as absent, numbers are clamped, nothing throws. LineParser
// parses lines one after another without allocating per line, and Skim classifies a line
// without building it (to skip, cheaply, the many lines a stream parser reads nothing from).
// Free functions: any thread; a LineParser has one owner.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "service/runtimes/agent_usage.h"

namespace overseer::service::stream_json {

// The longest line a parser looks at; longer ones are counted (oversized, malformed) and
// skipped unparsed, so one line costs at most a few times this in memory.
inline constexpr size_t kLineMaxBytes = 4 * 1024 * 1024;

// Parses one line (a trailing "\r" is ignored) into `out` if it is a JSON object; otherwise
// counts it in `u` (malformed, oversized) and answers nullptr. Counts every line in u.lines.
const boost::json::object* ParseLine(std::string_view line, boost::json::value& out, AgentUsage& u);

// A top-level string field as Skim saw it.
class SkimField {
 public:
  static constexpr size_t kMaxBytes = 32;  // longer strings read as kOther

  // kString: the key occurs once and its value is a string of at most kMaxBytes (decoded);
  // kOther: it occurs more than once, or its value is no such string.
  enum class State { kAbsent, kString, kOther };

  State state() const { return state_; }
  // The string when kString, else "".
  std::string_view text() const {
    return state_ == State::kString ? std::string_view(text_, size_) : std::string_view();
  }
  // true when kString and equal to `s`.
  bool Is(std::string_view s) const { return state_ == State::kString && text() == s; }

  // For Skim's scan: the key occurs (again), its value is a string ...
  void Key();
  void Append(std::string_view part);
  // ... or something else (for good: a later Key() does not make it a string again).
  void NotString() {
    seen_ = true;
    state_ = State::kOther;
  }

 private:
  State state_ = State::kAbsent;
  bool seen_ = false;
  char text_[kMaxBytes] = {};
  size_t size_ = 0;
};

// What Skim found in a line.
struct Skimmed {
  // The line is a JSON object: exactly when ParseLine would parse it into one (Skim runs the
  // same parser, options and limits; it only builds nothing).
  bool object = false;
  SkimField type;        // the top-level "type"
  SkimField subtype;     // the top-level "subtype"
  SkimField event_type;  // the "type" of the top-level "event" object (kOther: "event" occurs
                         // more than once; kAbsent: no "event" object)
};

// Scans one line (a trailing "\r" is ignored; at most kLineMaxBytes, longer ones answer
// object false) without building a document or allocating: a few times cheaper than parsing.
Skimmed Skim(std::string_view line);

// Parses lines one after another as ParseLine does (the same result and counts), into memory
// kept across lines: no allocation per line for lines up to a few KiB, and what a longer line
// took is given back after it. Movable; one owner.
class LineParser {
 public:
  LineParser();
  ~LineParser();
  LineParser(LineParser&&) noexcept;
  LineParser& operator=(LineParser&&) noexcept;

  // As ParseLine. The object answered stays valid until the next call.
  const boost::json::object* Parse(std::string_view line, AgentUsage& u);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

const boost::json::object* Object(const boost::json::object& o, std::string_view key);
const boost::json::array* Array(const boost::json::object& o, std::string_view key);
// "" when absent or not a string.
std::string_view String(const boost::json::object& o, std::string_view key);
std::string_view String(const boost::json::value& v);
// A token count: an integer (or an integral double) in [0, 2^50]; anything else reads as 0.
int64_t Count(const boost::json::object& o, std::string_view key);
// A non-negative finite number; nullopt when absent, negative or not a number.
std::optional<double> Number(const boost::json::object& o, std::string_view key);
// true only for the JSON literal true.
bool True(const boost::json::object& o, std::string_view key);

}  // namespace overseer::service::stream_json
