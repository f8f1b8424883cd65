// CodexStream: the pure parser of `codex exec --json` output (codex 0.171.0; FIELD-NOTES
// "Codex", tests/fakes/README.md). Fed one stdout line at a time; never throws; memory bounded
// whatever the input. One owner, no locking.
//
// Lines: thread.started{thread_id}, turn.started, item.started|updated|completed{item},
// turn.completed{usage}, turn.failed{error{message}}, error{message}.
// - turn.completed.usage is the THREAD's running total (a resumed thread's first turn reports
//   the earlier runs' tokens too): each turn is charged the difference from the previous total,
//   starting from SetThreadBaseline (what earlier runs of the thread reported, see
//   thread_totals()). A total lower than the previous one in any field is taken as a fresh
//   counter and charged whole.
// - Codex's input_tokens include cached_input_tokens (and cache_write_input_tokens); they are
//   split apart here (agent_usage.h). Codex reports no cost: every cost is priced from the
//   PriceTable with the model given at construction (cost_estimated).
// - An item of type "error" (e.g. "Model metadata for `X` not found") is a warning, not a
//   failure; a top-level `error` line gives the error text but the turn.failed that follows
//   decides (in a turn that completes anyway it becomes a warning). Success: a turn ended, none
//   failed.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "service/runtimes/agent_usage.h"
#include "service/runtimes/price_table.h"
#include "service/runtimes/stream_json.h"

namespace overseer::service {

// A thread's cumulative usage as codex reports it (input includes cached).
struct CodexThreadTotals {
  int64_t input_tokens = 0;
  int64_t cached_input_tokens = 0;
  int64_t cache_write_input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t reasoning_output_tokens = 0;
};

class CodexStream {
 public:
  // `model`: what codex runs (its -m, or the default the daemon configured), for the price
  // (codex does not print it). `prices` must outlive the stream.
  explicit CodexStream(std::string_view model, const PriceTable& prices = PriceTable::BuiltIn());

  // For a resumed thread, before the first Feed: the thread_totals() its last run ended with.
  void SetThreadBaseline(const CodexThreadTotals& totals) { thread_totals_ = totals; }

  // One line of stdout, without its "\n".
  void Feed(std::string_view line);

  const AgentUsage& usage() const { return usage_; }
  // The last cumulative usage codex reported for the thread (the baseline if none yet).
  const CodexThreadTotals& thread_totals() const { return thread_totals_; }
  // What the totals (tokens, cost) moved since the previous call.
  UsageDelta TakeDelta();
  // true: a turn ended and none failed; false: a turn failed; nullopt: no turn ended.
  std::optional<bool> Succeeded() const;

 private:
  void OnItem(const boost::json::object& item);
  void OnTurnUsage(const boost::json::object& usage);

  const PriceTable& prices_;
  stream_json::LineParser parser_;
  ModelPrice price_;
  bool price_found_ = false;
  AgentUsage usage_;
  CodexThreadTotals thread_totals_;
  BoundedText turn_text_;   // the last agent message of the current turn
  BoundedText turn_error_;  // the last `error` line of the current turn
  bool turn_failed_ = false;
  UsageDelta charged_;
};

}  // namespace overseer::service
