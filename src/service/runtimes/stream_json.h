// Lenient readers of the JSON lines agent CLIs print, shared by ClaudeStream and CodexStream:
// a field of the wrong type reads as absent, numbers are clamped, nothing throws. LineParser
// parses lines one after another without allocating per line, and Scan reads chosen fields of
// a line without building it (to classify, cheaply, the many lines a stream parser reads
// nothing from, and to read the few fields it needs from the frequent lines that matter,
// skimming the values it does not read).
// Free functions: any thread; a LineParser has one owner.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "service/runtimes/agent_usage.h"

namespace overseer::service::stream_json {

// The longest line a parser looks at; longer ones are counted (oversized, malformed) and
// skipped unparsed, so one line costs at most a few times this in memory.
inline constexpr size_t kLineMaxBytes = 4 * 1024 * 1024;

// What Scan found at one of the paths it was asked for.
struct ScanValue {
  enum class Kind : uint8_t { kString, kNumber, kObject, kArray, kTrue, kFalse, kNull };
  Kind kind = Kind::kNull;
  bool escaped = false;   // kString: written with backslash escapes (Unescape decodes it)
  std::string_view text;  // kString: between the quotes, as written; kNumber: as written
};

// The paths a Scan reads, compiled once: dotted keys from the top-level object, "[]" for any
// element of an array ("event.usage.output_tokens", "message.content[].text"). A path's
// index in the list is the field Scan reports it under. At most 64 keys under one object.
class ScanPaths {
 public:
  explicit ScanPaths(std::initializer_list<std::string_view> paths);

 private:
  friend class Scanner;
  // Laid out for a scan with cold caches: the nodes in one array, each object's keys next to
  // one another (breadth first), their names in one string, so a scan touches a few cache
  // lines of it rather than a heap block per node.
  struct Node {
    uint64_t key_lengths = 0;  // bit n: a key of n bytes (63: 63 or more)
    int16_t field = -1;        // the path that ends here, or -1
    int16_t element = -1;      // the node of this array's elements, or -1
    uint16_t first_key = 0;    // the nodes of this object's keys: [first_key, + keys)
    uint8_t keys = 0;
    uint8_t name_size = 0;  // this node's key: names_[name_at, + name_size)
    uint16_t name_at = 0;
  };
  std::vector<Node> nodes_;  // [0]: the top-level object
  std::string names_;
};

// Told each value Scan finds at a path, as the value ends (so a container's values come
// before the container itself); answers false to stop the scan (the line is then kUnsure).
class ScanSink {
 public:
  virtual bool OnValue(int field, const ScanValue& v) = 0;

 protected:
  ~ScanSink() = default;
};

// A hand-written pass over one line that reads the chosen fields in place, building nothing
// and allocating nothing (cheaper than a parse, which builds the document). It validates every
// token of the objects a path goes through (their keys, colons, commas and the values at a
// path); a value no path reads (a key no path names, an array's elements where no path goes on)
// is only skimmed for its shape: a string closes (what follows a backslash unchecked), a
// container's strings and brackets close in order (as Closes checks a skipped line), a scalar is
// a run of bytes none of which is white space or `"{}[],:\`; such a value with a byte below
// 0x20 or above 0x7f is validated in full instead.
// kObject: the line (a trailing "\r" ignored, at most kLineMaxBytes) is one object whose
// structure down to the values read is JSON, and what the sink was told is what a parse gives
// of it: no key of a path occurs twice in one object (a parse keeps the last), and no key of an
// object a path goes through is written with escapes. If json::parse also accepts the line, the
// sink was told what a parse reads; if it does not, the fault lies inside an unread value (a
// stray or missing comma or colon, `tru`, `01`, an unknown escape, between whole strings and
// brackets) and the sink was told what a parse reads of the line with that value made valid.
// kUnsure: anything else (not JSON where it validates, an unread value whose strings or
// brackets do not close; JSON that Scan does not vouch for: nested over 31 deep, a \u escape of
// a UTF-16 surrogate in a value read, an exponent of over 4 digits; a duplicate or escaped key
// where a path goes; the sink stopped): a parse decides.
enum class ScanResult { kObject, kUnsure };
ScanResult Scan(std::string_view line, const ScanPaths& paths, ScanSink& sink);

// A cheap look at the rest of a line whose opening bytes already say it is one a stream parser
// reads nothing from (a content_block_delta event, say): `from` bytes in, inside `depth` objects
// opened by those bytes, outside any string. True when, from there on, the strings close and
// the brackets close in order ("{" with "}", "[" with "]", at most 31 deep, as Scan), the last of
// them as the line's last byte (a trailing "\r" ignored; at most kLineMaxBytes), with no byte
// below 0x20 or above 0x7f anywhere and no backslash outside a string, and no string inside the
// first `watch_depth` levels is written with an escape or equals one of `watched` (so that no
// later duplicate of a key the opening bytes decided can change what a parse reads). What it does
// not check: the tokens between those characters (commas, colons, numbers, literals) and which
// escapes follow a backslash. A line it answers false for is no worse off: Scan or a parse then
// decides, and counts it malformed if it is not JSON. Every cut of a line (all but its last
// byte kept, or less) and every line of two objects answer false. SSE2 where built with it.
bool Closes(std::string_view line, size_t from, int depth, int watch_depth,
            std::initializer_list<std::string_view> watched);

// A string value's text decoded (its escapes, as Scan vouched for them) into `out`.
void Unescape(std::string_view text, std::string& out);

// A token count as Count reads it from the value: 0 when not a number, negative or over
// 2^50; nullopt when it is a number not written as a plain integer (a parse decides).
std::optional<int64_t> ScanCount(const ScanValue& v);

// Parses lines one after another into memory kept across lines: no allocation per line for
// lines up to a few KiB, and what a longer line took is given back after it. Movable; one
// owner.
class LineParser {
 public:
  LineParser();
  ~LineParser();
  LineParser(LineParser&&) noexcept;
  LineParser& operator=(LineParser&&) noexcept;

  // Parses one line (a trailing "\r" is ignored) if it is a JSON object (as json::parse reads
  // it); otherwise counts it in `u` (malformed, oversized) and answers nullptr. Counts every
  // line in u.lines. The object answered stays valid until the next call.
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
