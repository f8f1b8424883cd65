// What an agent runtime's output stream told about a run: ids, token usage, cost, the final
// result and how it ended. Shared by ClaudeStream and CodexStream (the pure parsers of the
// `claude` and `codex` CLIs' JSON lines). Plain values; any thread.
//
// Tokens are normalised across runtimes so that sums and prices mean the same thing:
//   input_tokens       input not read from the prompt cache (Codex reports input including
//                      cached tokens: its cached_input_tokens are subtracted here)
//   cache_read_tokens  input read from the prompt cache (Claude cache_read_input_tokens,
//                      Codex cached_input_tokens)
//   cache_write_tokens input written to the prompt cache (Claude cache_creation_input_tokens)
//   output_tokens      everything generated, reasoning included
//   reasoning_tokens   the reasoning part of output_tokens (Codex; not added again)
// Total tokens of a run = input + cache_read + cache_write + output.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace overseer::service {

// Token counts and cost; also what changed between two snapshots (then fields may be
// negative: the final result line corrected what was streamed).
struct UsageDelta {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_read_tokens = 0;
  int64_t cache_write_tokens = 0;
  int64_t reasoning_tokens = 0;
  double cost_usd = 0;

  int64_t total_tokens() const {
    return input_tokens + output_tokens + cache_read_tokens + cache_write_tokens;
  }
  bool empty() const {
    return input_tokens == 0 && output_tokens == 0 && cache_read_tokens == 0 &&
           cache_write_tokens == 0 && reasoning_tokens == 0 && cost_usd == 0;
  }
};

// Text kept from a stream, cut to a bound (at a UTF-8 character boundary).
struct BoundedText {
  std::string text;
  bool truncated = false;  // the original was longer than the bound

  void Set(std::string_view s, size_t max_bytes);
};

struct AgentUsage {
  // Bounds on what is kept, whatever the input.
  static constexpr size_t kResultMaxBytes = 16 * 1024;
  static constexpr size_t kTextMaxBytes = 16 * 1024;    // last_text
  static constexpr size_t kMessageMaxBytes = 4 * 1024;  // error_message, last_warning
  static constexpr size_t kIdMaxBytes = 256;            // session_id, model, subtype
  static constexpr size_t kDeniedToolsMax = 32;         // names kept (the count goes on)
  static constexpr size_t kToolNameMaxBytes = 128;

  std::string session_id;  // Claude session_id, Codex thread_id
  std::string model;       // Claude: from system/init (else the first message's); Codex: given
  int64_t turns = 0;       // Claude num_turns (streamed: assistant messages); Codex: turns ended

  UsageDelta usage;                 // totals so far (see the header comment)
  bool cost_estimated = false;      // cost_usd is overseer's price-table estimate, not the CLI's
  bool cost_default_price = false;  // some tokens priced at the table's default rate

  BoundedText result;           // Claude result.result; Codex: the last agent message of the last
                                // completed turn
  BoundedText last_text;        // the last assistant / agent message text seen
  bool is_error = false;        // Claude result.is_error; Codex: a turn failed
  std::string subtype;          // Claude result.subtype ("success", "error_max_turns", ...)
  std::string terminal_reason;  // Claude result.terminal_reason, if any
  int api_error_status = 0;     // HTTP status of the API error (Claude), 0 if none
  BoundedText error_message;    // Claude result.errors[0] / API error text; Codex turn.failed
  int64_t permission_denials = 0;
  std::vector<std::string> denied_tools;  // distinct tool names, at most kDeniedToolsMax
  int64_t warnings = 0;                   // non-fatal notices (Codex item of type "error")
  BoundedText last_warning;

  int64_t lines = 0;            // lines fed
  int64_t malformed_lines = 0;  // not a JSON object, or too long (oversized_lines included)
  int64_t oversized_lines = 0;  // longer than the parser's line cap, skipped unparsed
  int64_t unknown_lines = 0;    // a JSON object of a type the parser does not know
  bool has_result = false;      // Claude: a result line; Codex: a turn ended
};

// a - b, field by field.
UsageDelta Subtract(const UsageDelta& a, const UsageDelta& b);

}  // namespace overseer::service
