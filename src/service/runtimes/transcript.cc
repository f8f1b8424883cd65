#include "service/runtimes/transcript.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/system/error_code.hpp>
#include <utility>

#include "common/utf8.h"
#include "service/runtimes/stream_json.h"

namespace overseer::service {

namespace json = boost::json;
namespace sj = stream_json;

namespace {

// `s` cut to `max_bytes` (between characters) with the marker appended when longer.
std::string Bound(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return std::string(s);
  std::string out(TruncateUtf8(s, max_bytes));
  out += TranscriptBuilder::kCutMarker;
  return out;
}

// Appends `piece` to `out` while `out` holds at most `max_bytes` (+1 byte, so Bound sees
// that it is longer); stops copying past that.
void AppendBounded(std::string& out, std::string_view piece, size_t max_bytes) {
  if (out.size() > max_bytes) return;
  size_t room = max_bytes + 1 - out.size();
  out.append(piece.substr(0, room));
}

// The input as it is when it serializes within the bound; else a JSON string holding the
// start of its serialization and the marker.
json::value BoundInput(const json::value& input) {
  std::string text = json::serialize(input);
  if (text.size() <= TranscriptBuilder::kInputMaxBytes) return input;
  return json::value(Bound(text, TranscriptBuilder::kInputMaxBytes));
}

std::string Time(const json::object& line) {
  std::string_view t = sj::String(line, "timestamp");
  return t.size() <= TranscriptBuilder::kTimeMaxBytes ? std::string(t) : std::string();
}

// A tool_result block's content: a string, or an array of blocks whose text ones are joined
// by "\n" (others stand as "[<type>]"), bounded.
std::string ToolResultText(const json::value* content) {
  if (content == nullptr) return std::string();
  if (const json::string* s = content->if_string()) {
    return Bound(std::string_view(s->data(), s->size()), TranscriptBuilder::kToolResultMaxBytes);
  }
  std::string out;
  if (const json::array* blocks = content->if_array()) {
    for (const json::value& b : *blocks) {
      if (out.size() > TranscriptBuilder::kToolResultMaxBytes) break;
      const json::object* block = b.if_object();
      if (block == nullptr) continue;
      if (!out.empty()) AppendBounded(out, "\n", TranscriptBuilder::kToolResultMaxBytes);
      std::string_view type = sj::String(*block, "type");
      if (type == "text") {
        AppendBounded(out, sj::String(*block, "text"), TranscriptBuilder::kToolResultMaxBytes);
      } else {
        std::string label = "[" + std::string(TruncateUtf8(type, 64)) + "]";
        AppendBounded(out, label, TranscriptBuilder::kToolResultMaxBytes);
      }
    }
  }
  return Bound(out, TranscriptBuilder::kToolResultMaxBytes);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

TranscriptFormat TranscriptFormatFor(std::string_view runtime) {
  if (runtime == "claude") return TranscriptFormat::kClaude;
  if (runtime == "codex") return TranscriptFormat::kCodex;
  return TranscriptFormat::kLines;
}

std::string_view TranscriptKindName(TranscriptKind kind) {
  switch (kind) {
    case TranscriptKind::kText:
      return "text";
    case TranscriptKind::kToolCall:
      return "tool_call";
    case TranscriptKind::kToolResult:
      return "tool_result";
    case TranscriptKind::kResult:
      return "result";
  }
  return "text";
}

TranscriptBuilder::TranscriptBuilder(TranscriptFormat format, size_t max_entries)
    : format_(format), max_entries_(max_entries < 1 ? 1 : max_entries) {}

void TranscriptBuilder::Add(TranscriptEntry e) {
  entries_.push_back(std::move(e));
  while (entries_.size() > max_entries_) {
    entries_.pop_front();
    ++stats_.dropped_entries;
  }
}

std::vector<TranscriptEntry> TranscriptBuilder::TakeEntries() {
  std::vector<TranscriptEntry> out(std::make_move_iterator(entries_.begin()),
                                   std::make_move_iterator(entries_.end()));
  entries_.clear();
  return out;
}

void TranscriptBuilder::Feed(std::string_view line, bool cut) {
  ++stats_.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (format_ == TranscriptFormat::kLines) {
    TranscriptEntry e;
    e.kind = TranscriptKind::kText;
    // Command output is any bytes; the answer is UTF-8 JSON.
    std::string text = ValidUtf8(line.substr(0, kTextMaxBytes + 1));
    if (cut || line.size() > kTextMaxBytes || text.size() > kTextMaxBytes) {
      text.resize(TruncateUtf8(text, kTextMaxBytes).size());
      text += kCutMarker;
    }
    e.text = std::move(text);
    if (cut) ++stats_.oversized_lines;
    Add(std::move(e));
    return;
  }
  if (cut || line.size() > sj::kLineMaxBytes) {
    ++stats_.oversized_lines;
    ++stats_.malformed_lines;
    return;
  }
  // The bulk of a claude stream: partial deltas, redundant with the assistant lines. Skipped
  // without parsing when the line starts as the CLI writes them.
  if (format_ == TranscriptFormat::kClaude && StartsWith(line, "{\"type\":\"stream_event\"")) {
    return;
  }
  boost::system::error_code ec;
  json::value doc = json::parse(line, ec);
  if (ec || !doc.is_object()) {
    ++stats_.malformed_lines;
    return;
  }
  if (format_ == TranscriptFormat::kClaude) {
    OnClaude(doc.get_object());
  } else {
    OnCodex(doc.get_object());
  }
}

void TranscriptBuilder::OnClaude(const json::object& line) {
  std::string_view type = sj::String(line, "type");
  if (type == "assistant" || type == "user") {
    const json::object* message = sj::Object(line, "message");
    const json::array* content = message != nullptr ? sj::Array(*message, "content") : nullptr;
    if (content == nullptr) {
      ++stats_.unknown_lines;  // a user prompt given as a string, or no content
      return;
    }
    std::string time = Time(line);
    for (const json::value& v : *content) {
      const json::object* block = v.if_object();
      if (block == nullptr) continue;
      std::string_view block_type = sj::String(*block, "type");
      TranscriptEntry e;
      e.time = time;
      if (type == "assistant" && block_type == "text") {
        std::string_view text = sj::String(*block, "text");
        if (text.empty()) continue;
        e.kind = TranscriptKind::kText;
        e.text = Bound(text, kTextMaxBytes);
      } else if (type == "assistant" && block_type == "tool_use") {
        e.kind = TranscriptKind::kToolCall;
        e.tool = TruncateUtf8(sj::String(*block, "name"), kToolNameMaxBytes);
        const json::value* input = block->if_contains("input");
        e.input = input != nullptr && !input->is_null() ? BoundInput(*input)
                                                        : json::value(json::object());
      } else if (type == "user" && block_type == "tool_result") {
        e.kind = TranscriptKind::kToolResult;
        e.text = ToolResultText(block->if_contains("content"));
        e.is_error = sj::True(*block, "is_error");
      } else {
        continue;  // thinking, a user's text, images...
      }
      Add(std::move(e));
    }
  } else if (type == "result") {
    TranscriptEntry e;
    e.kind = TranscriptKind::kResult;
    e.is_error = sj::True(line, "is_error");
    std::string_view result = sj::String(line, "result");
    if (!result.empty()) {
      e.text = Bound(result, kResultMaxBytes);
    } else {
      // error_max_turns and the like carry no result text: say which, and why.
      std::string text(TruncateUtf8(sj::String(line, "subtype"), kToolNameMaxBytes));
      if (const json::array* errors = sj::Array(line, "errors"); errors && !errors->empty()) {
        std::string_view first = sj::String((*errors)[0]);
        if (!first.empty()) {
          if (!text.empty()) text += ": ";
          text += first.substr(0, kResultMaxBytes + 1);
        }
      }
      if (!text.empty()) e.text = Bound(text, kResultMaxBytes);
    }
    e.time = Time(line);
    Add(std::move(e));
  } else {
    ++stats_.unknown_lines;  // system, stream_event, rate_limit_event, ...
  }
}

void TranscriptBuilder::OnCodex(const json::object& line) {
  std::string_view type = sj::String(line, "type");
  if (type == "item.completed") {
    if (const json::object* item = sj::Object(line, "item")) {
      OnCodexItem(*item);
    } else {
      ++stats_.unknown_lines;
    }
  } else if (type == "turn.started") {
    turn_text_.clear();
    turn_text_set_ = false;
  } else if (type == "turn.completed") {
    TranscriptEntry e;
    e.kind = TranscriptKind::kResult;
    e.is_error = false;
    if (turn_text_set_) e.text = turn_text_;
    Add(std::move(e));
    turn_text_.clear();
    turn_text_set_ = false;
  } else if (type == "turn.failed") {
    TranscriptEntry e;
    e.kind = TranscriptKind::kResult;
    e.is_error = true;
    if (const json::object* error = sj::Object(line, "error")) {
      std::string_view message = sj::String(*error, "message");
      if (!message.empty()) e.text = Bound(message, kResultMaxBytes);
    }
    // Codex prints the error line, then turn.failed with the same text: one entry says it.
    if (!entries_.empty()) {
      const TranscriptEntry& last = entries_.back();
      if (last.kind == TranscriptKind::kText && last.is_error == std::optional<bool>(true) &&
          (!e.text || last.text == e.text)) {
        if (!e.text) e.text = last.text;
        entries_.pop_back();
      }
    }
    Add(std::move(e));
  } else if (type == "error") {
    std::string_view message = sj::String(line, "message");
    TranscriptEntry e;
    e.kind = TranscriptKind::kText;
    e.is_error = true;
    e.text = Bound(message, kTextMaxBytes);
    Add(std::move(e));
  } else if (type == "thread.started" || type == "item.started" || type == "item.updated") {
    // Ids and progress: what counts comes with item.completed.
  } else {
    ++stats_.unknown_lines;
  }
}

void TranscriptBuilder::OnCodexItem(const json::object& item) {
  std::string_view type = sj::String(item, "type");
  if (type == "agent_message") {
    std::string_view text = sj::String(item, "text");
    TranscriptEntry e;
    e.kind = TranscriptKind::kText;
    e.text = Bound(text, kTextMaxBytes);
    turn_text_ = Bound(text, kResultMaxBytes);
    turn_text_set_ = true;
    Add(std::move(e));
  } else if (type == "command_execution") {
    TranscriptEntry call;
    call.kind = TranscriptKind::kToolCall;
    call.tool = "command";
    const json::value* command = item.if_contains("command");
    call.input =
        BoundInput(json::object{{"command", command != nullptr ? *command : json::value(nullptr)}});
    Add(std::move(call));
    TranscriptEntry result;
    result.kind = TranscriptKind::kToolResult;
    result.text = Bound(sj::String(item, "aggregated_output"), kToolResultMaxBytes);
    const json::value* code = item.if_contains("exit_code");
    bool failed_code = code != nullptr && code->is_number() &&
                       !(code->is_int64() && code->get_int64() == 0) &&
                       !(code->is_uint64() && code->get_uint64() == 0);
    result.is_error = failed_code || sj::String(item, "status") == "failed";
    Add(std::move(result));
  } else if (type == "error") {
    TranscriptEntry e;
    e.kind = TranscriptKind::kText;
    e.is_error = true;
    e.text = Bound(sj::String(item, "message"), kTextMaxBytes);
    Add(std::move(e));
  } else if (type == "reasoning" || type.empty()) {
    if (type.empty()) ++stats_.unknown_lines;
  } else {
    // file_change, mcp_tool_call, web_search, todo_list, ...: the item is the call.
    TranscriptEntry e;
    e.kind = TranscriptKind::kToolCall;
    e.tool = TruncateUtf8(type, kToolNameMaxBytes);
    json::object input;
    for (const auto& kv : item) {
      if (kv.key() == "id" || kv.key() == "type") continue;
      input.emplace(kv.key(), kv.value());
    }
    e.input = BoundInput(input);
    Add(std::move(e));
  }
}

}  // namespace overseer::service
