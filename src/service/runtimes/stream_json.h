// Lenient readers of the JSON lines agent CLIs print, shared by ClaudeStream and CodexStream:
// a field of the wrong type reads as absent, numbers are clamped, nothing throws. Any thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
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
