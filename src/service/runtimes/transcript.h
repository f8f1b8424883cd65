// TranscriptBuilder: what a worker did, read back from the lines of its log (SPEC §11
// GET /api/supervisor/workers/{id}/transcript). Pure: fed one line at a time (no "\n"), no IO;
// never throws; memory bounded whatever the input (every kept string is capped, at most
// `max_entries` entries are kept: the last ones). One owner, no locking; any thread.
//
// Formats, chosen by the task's runtime (TranscriptFormatFor):
// - claude (`claude -p --output-format stream-json --verbose --include-partial-messages`):
//   `assistant` lines carry complete content blocks: a text block is a `text` entry, a
//   tool_use block a `tool_call` (tool = its name, input = its input object). A `user` line's
//   tool_result blocks are `tool_result` entries (the content string, or its text blocks
//   joined by "\n"; is_error). `result` is the `result` entry: its result text (or, without
//   one, the subtype and the first of `errors`), is_error. `stream_event` lines (partial
//   deltas, skipped before parsing), `system` lines (init, status, api_retry) and other types
//   are skipped; a line's `timestamp` (user lines have one) becomes the entry's time.
// - codex (`codex exec --json`): item.completed of an agent_message is a `text` entry; a
//   command_execution is a `tool_call` (tool "command", input {"command"}) followed by its
//   `tool_result` (aggregated_output, is_error when the exit code is not 0 or the status is
//   "failed"); any other item type (file_change, mcp_tool_call, web_search, todo_list, ...)
//   is a `tool_call` whose tool is the item type and whose input is the item without its id
//   and type; a `reasoning` item is skipped; an `error` item (a non-fatal notice such as
//   "Model metadata for `X` not found") is a `text` entry with is_error. A top-level `error`
//   line is a `text` entry with is_error too (a retried stream may go on); turn.completed is a
//   `result` entry (the turn's last agent message), turn.failed a `result` with is_error and
//   its error message (replacing the error entry just before it when that said the same).
// - anything else (a `command` task, or an unknown runtime): every line is a `text` entry,
//   so the route answers for every worker.
// Agent CLIs share the log with their stderr: in the JSON formats a line that is not a JSON
// object is counted (malformed) and skipped, as are lines of unknown types (unknown).
//
// Bounds (a cut string ends with kCutMarker; a cut input becomes a JSON string holding the
// cut serialization + the marker): text kTextMaxBytes, tool result kToolResultMaxBytes,
// result kResultMaxBytes, serialized input kInputMaxBytes, tool name kToolNameMaxBytes.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overseer::service {

enum class TranscriptFormat { kClaude, kCodex, kLines };

// "claude" → kClaude, "codex" → kCodex, anything else ("command", "") → kLines.
TranscriptFormat TranscriptFormatFor(std::string_view runtime);

enum class TranscriptKind { kText, kToolCall, kToolResult, kResult };

// "text", "tool_call", "tool_result", "result".
std::string_view TranscriptKindName(TranscriptKind kind);

struct TranscriptEntry {
  TranscriptKind kind = TranscriptKind::kText;
  std::optional<std::string> text;  // text, tool_result, result (absent: none given)
  std::string tool;                 // tool_call ("" otherwise)
  boost::json::value input;         // tool_call: the input (null otherwise)
  std::optional<bool> is_error;     // tool_result, result; text of an error notice
  std::string time;                 // RFC 3339 when the line carried one, else ""
};

struct TranscriptStats {
  int64_t lines = 0;
  int64_t malformed_lines = 0;  // not a JSON object, or cut (oversized included)
  int64_t oversized_lines = 0;  // given cut (longer than the reader keeps)
  int64_t unknown_lines = 0;    // a JSON object of a type that makes no entry
  int64_t dropped_entries = 0;  // older than the last max_entries
};

class TranscriptBuilder {
 public:
  static constexpr size_t kTextMaxBytes = 8 * 1024;
  static constexpr size_t kToolResultMaxBytes = 2 * 1024;
  static constexpr size_t kResultMaxBytes = 16 * 1024;
  static constexpr size_t kInputMaxBytes = 4 * 1024;
  static constexpr size_t kToolNameMaxBytes = 128;
  static constexpr size_t kTimeMaxBytes = 64;
  static constexpr std::string_view kCutMarker = "…[truncated]";

  // Keeps the last `max_entries` entries (at least 1).
  TranscriptBuilder(TranscriptFormat format, size_t max_entries);

  // One line of the log, without its "\n" (a trailing "\r" is ignored). `cut`: the reader
  // kept only the start of a longer line (JSON formats skip it; kLines keeps its start).
  void Feed(std::string_view line, bool cut = false);

  const std::deque<TranscriptEntry>& entries() const { return entries_; }
  std::vector<TranscriptEntry> TakeEntries();
  const TranscriptStats& stats() const { return stats_; }

 private:
  void Add(TranscriptEntry e);
  void OnClaude(const boost::json::object& line);
  void OnCodex(const boost::json::object& line);
  void OnCodexItem(const boost::json::object& item);

  TranscriptFormat format_;
  size_t max_entries_;
  std::deque<TranscriptEntry> entries_;
  TranscriptStats stats_;
  std::string turn_text_;  // codex: the last agent message of the current turn (bounded)
  bool turn_text_set_ = false;
};

}  // namespace overseer::service
