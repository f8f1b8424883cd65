// ClaudeStream: the pure parser of `claude -p --output-format stream-json --verbose
// [--include-partial-messages]` output (Claude Code 2.1.x; FIELD-NOTES "Claude Code in headless
// mode", tests/fakes/README.md). Fed one stdout line at a time; never throws; memory bounded
// whatever the input (lines over stream_json::kLineMaxBytes are skipped, kept strings are
// capped, at most kMessagesTracked messages are remembered). One owner, no locking.
//
// Usage is charged as it arrives: per message, the largest value seen of each token field in
// its stream_event message_start / message_delta (with --include-partial-messages) and its
// `assistant` lines (without it, these carry only message_start's usage: output 1), priced
// with the PriceTable (cost_estimated). The `result` line then replaces the totals: the larger
// (in total tokens) of result.usage and the sum of modelUsage, unless both are all zeros
// (claude 2.1.197 reports all zeros after a cut stream or --max-budget-usd: then what was
// streamed stays), and the CLI's own total_cost_usd (or the modelUsage costUSD sum) replaces
// the estimate when it is non-zero. The result can be lower than what was streamed (a cut
// stream's message_start was charged): TakeDelta then answers negative fields.
//
// Most lines carry nothing read here (with --include-partial-messages, nearly every line is a
// content_block_delta), and most of the rest are message_start / message_delta events and
// assistant lines. A line of the first kind written as Claude Code writes it is known by its
// opening bytes (`{"type":"stream_event","event":{"type":"<not message_start or
// message_delta>"`, `{"type":"user",`, `{"type":"system","subtype":"<not init or api_retry>"`)
// and counted after stream_json::Closes, a check of its shape only. Still counted malformed: a
// cut line, two lines run together or text after the object, a string or bracket left open
// or closed by the wrong bracket; a line with a byte below 0x20 or above 0x7f, or nested over 31
// deep, goes to the full path below (a control character in a string, invalid UTF-8, nesting a
// parse refuses: malformed there). Not any more: a line of whole strings and brackets with
// broken tokens between them (a missing colon or a stray comma, a number or literal misspelt, an
// unknown escape), counted as a line. A later duplicate of a key the opening decided, or a string
// near the top written with escapes, also sends the line down the full path.
// Every other line is read with stream_json::Scan, a pass that builds nothing, which skips the
// first kind too and charges from the second: it validates the objects on the way to the fields
// read and those fields, and skims every other value for its shape only (strings and brackets,
// as Closes). Only the rare other lines (init, api_retry, result, unknown ones) and any line Scan
// does not vouch for (not JSON where it validates, an unread value that does not close, duplicate
// keys, escaped keys, numbers written oddly, ...) get a full parse. The figures and counts are
// what a full parse of every line gives, but for those broken-token skipped lines and for a
// read line whose broken tokens all lie in values it does not read: counted as a line, not
// malformed, and read as the line would be with those values whole.
#pragma once

#include <boost/json/object.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "service/runtimes/agent_usage.h"
#include "service/runtimes/price_table.h"
#include "service/runtimes/stream_json.h"

namespace overseer::service {

class ClaudeStream {
 public:
  static constexpr size_t kMessagesTracked = 16;

  // `prices` must outlive the stream.
  explicit ClaudeStream(const PriceTable& prices = PriceTable::BuiltIn());
  ~ClaudeStream();
  ClaudeStream(ClaudeStream&&) noexcept;
  ClaudeStream& operator=(ClaudeStream&&) = delete;  // prices_ is a reference

  // One line of stdout, without its "\n".
  void Feed(std::string_view line);

  // What Feed does with a line, from its opening bytes and Closes or from its Scan. kSkip: a
  // JSON object none of whose fields is read here (or one with the opening of such a line whose
  // shape Closes accepts): a stream_event whose event is not message_start or message_delta
  // (content_block_*, message_stop, ping, ...), a `user` line (tool results), a `system` line
  // whose subtype is not init or api_retry (status, ...). kRead: a message_start or
  // message_delta event or an assistant line, its fields read from the Scan. kParse: anything
  // else, and any line Scan does not vouch for (not valid JSON included: the parse counts it).
  // Pure; public for tests.
  enum class LineClass { kParse, kSkip, kRead };
  static LineClass Classify(std::string_view line);

  // Feed parses every line in full (tests compare both ways).
  void DisableSkippingForTest() { skipping_ = false; }

  const AgentUsage& usage() const { return usage_; }
  // What the totals (tokens, cost) moved since the previous call (since the start for the
  // first): the daemon charges budgets with it per message.
  UsageDelta TakeDelta();
  // From the result line: true when is_error is false and the subtype is "success" (or
  // absent); nullopt without a result line (then the exit code decides).
  std::optional<bool> Succeeded() const;

 private:
  struct Message {
    std::string id;
    std::string parent;  // parent_tool_use_id ("" at top level)
    ModelPrice price;
    bool price_found = true;
    bool turn_counted = false;  // an assistant line of it was seen (top level)
    UsageDelta seen;            // the largest value of each token field seen
  };

  struct MessageLine;  // what a message_start, message_delta or assistant line carries
  class Scanned;       // what Scan read of a line

  void OnSystem(const boost::json::object& line);
  void OnStreamEvent(const boost::json::object& line);
  void OnAssistant(const boost::json::object& line);
  void OnResult(const boost::json::object& line);
  static void ReadMessage(const boost::json::object* message, MessageLine& l);
  void OnMessageStart(const MessageLine& l);
  void OnMessageDelta(const MessageLine& l);
  void OnAssistant(const MessageLine& l);
  Message& Track(std::string_view id, std::string_view parent, std::string_view model);
  void Observe(Message& m, const UsageDelta& tokens);

  const PriceTable& prices_;
  stream_json::LineParser parser_;
  std::unique_ptr<Scanned> scanned_;
  bool skipping_ = true;
  AgentUsage usage_;
  UsageDelta streamed_;  // tokens and estimated cost charged from messages
  bool streamed_default_price_ = false;
  std::deque<Message> messages_;  // the most recent last
  // The price of the model last looked up: a stream's messages are mostly of one model, and a
  // lookup folds and searches the table (its memory cold between lines).
  std::string priced_model_;
  PriceTable::Lookup priced_;
  bool has_priced_ = false;
  UsageDelta charged_;        // what TakeDelta handed out
  bool usage_moved_ = false;  // usage_.usage was set since TakeDelta
  int64_t streamed_turns_ = 0;
};

}  // namespace overseer::service
