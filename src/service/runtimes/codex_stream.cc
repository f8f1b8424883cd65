#include "service/runtimes/codex_stream.h"

#include <algorithm>
#include <boost/json/value.hpp>

#include "service/runtimes/stream_json.h"

namespace overseer::service {

namespace json = boost::json;
namespace sj = stream_json;

CodexStream::CodexStream(std::string_view model, const PriceTable& prices) : prices_(prices) {
  usage_.model = model.substr(0, AgentUsage::kIdMaxBytes);
  PriceTable::Lookup price = prices_.Find(usage_.model);
  price_ = price.price;
  price_found_ = price.found;
  usage_.cost_estimated = true;
}

void CodexStream::Feed(std::string_view line) {
  const json::object* o = parser_.Parse(line, usage_);
  if (o == nullptr) return;
  std::string_view type = sj::String(*o, "type");
  if (type == "item.completed") {
    if (const json::object* item = sj::Object(*o, "item")) OnItem(*item);
  } else if (type == "item.started" || type == "item.updated") {
    // Progress of an item; what counts comes with item.completed.
  } else if (type == "turn.started") {
    turn_text_ = {};
    turn_error_ = {};
  } else if (type == "turn.completed") {
    ++usage_.turns;
    usage_.has_result = true;
    if (const json::object* u = sj::Object(*o, "usage")) OnTurnUsage(*u);
    usage_.result = turn_text_;
    if (!turn_error_.text.empty()) {
      // An error line in a turn that still completed (a retried stream) was not fatal.
      ++usage_.warnings;
      usage_.last_warning = turn_error_;
      if (!turn_failed_) usage_.error_message = {};
    }
    turn_error_ = {};
  } else if (type == "turn.failed") {
    turn_error_ = {};
    ++usage_.turns;
    usage_.has_result = true;
    turn_failed_ = true;
    usage_.is_error = true;
    if (const json::object* u = sj::Object(*o, "usage")) OnTurnUsage(*u);
    if (const json::object* error = sj::Object(*o, "error")) {
      std::string_view message = sj::String(*error, "message");
      if (!message.empty()) usage_.error_message.Set(message, AgentUsage::kMessageMaxBytes);
    }
  } else if (type == "error") {
    std::string_view message = sj::String(*o, "message");
    if (!message.empty()) {
      usage_.error_message.Set(message, AgentUsage::kMessageMaxBytes);
      turn_error_ = usage_.error_message;
    }
  } else if (type == "thread.started") {
    std::string_view id = sj::String(*o, "thread_id");
    if (!id.empty()) usage_.session_id = id.substr(0, AgentUsage::kIdMaxBytes);
  } else {
    ++usage_.unknown_lines;
  }
}

void CodexStream::OnItem(const json::object& item) {
  std::string_view type = sj::String(item, "type");
  if (type == "agent_message") {
    std::string_view text = sj::String(item, "text");
    usage_.last_text.Set(text, AgentUsage::kTextMaxBytes);
    turn_text_.Set(text, AgentUsage::kResultMaxBytes);
  } else if (type == "error") {
    ++usage_.warnings;
    usage_.last_warning.Set(sj::String(item, "message"), AgentUsage::kMessageMaxBytes);
  }
}

void CodexStream::OnTurnUsage(const json::object& u) {
  CodexThreadTotals now;
  now.input_tokens = sj::Count(u, "input_tokens");
  now.cached_input_tokens = sj::Count(u, "cached_input_tokens");
  now.cache_write_input_tokens = sj::Count(u, "cache_write_input_tokens");
  now.output_tokens = sj::Count(u, "output_tokens");
  now.reasoning_output_tokens = sj::Count(u, "reasoning_output_tokens");
  const CodexThreadTotals& before = thread_totals_;
  bool cumulative = now.input_tokens >= before.input_tokens &&
                    now.cached_input_tokens >= before.cached_input_tokens &&
                    now.cache_write_input_tokens >= before.cache_write_input_tokens &&
                    now.output_tokens >= before.output_tokens &&
                    now.reasoning_output_tokens >= before.reasoning_output_tokens;
  CodexThreadTotals d = now;
  if (cumulative) {
    d.input_tokens -= before.input_tokens;
    d.cached_input_tokens -= before.cached_input_tokens;
    d.cache_write_input_tokens -= before.cache_write_input_tokens;
    d.output_tokens -= before.output_tokens;
    d.reasoning_output_tokens -= before.reasoning_output_tokens;
  }
  thread_totals_ = now;

  UsageDelta t;
  t.cache_read_tokens = d.cached_input_tokens;
  t.cache_write_tokens = d.cache_write_input_tokens;
  t.input_tokens =
      std::max<int64_t>(0, d.input_tokens - d.cached_input_tokens - d.cache_write_input_tokens);
  t.output_tokens = d.output_tokens;
  t.reasoning_tokens = d.reasoning_output_tokens;
  t.cost_usd = PriceTable::Cost(price_, t);
  if (t.empty()) return;
  if (!price_found_) usage_.cost_default_price = true;
  usage_.usage.input_tokens += t.input_tokens;
  usage_.usage.output_tokens += t.output_tokens;
  usage_.usage.cache_read_tokens += t.cache_read_tokens;
  usage_.usage.cache_write_tokens += t.cache_write_tokens;
  usage_.usage.reasoning_tokens += t.reasoning_tokens;
  usage_.usage.cost_usd += t.cost_usd;
}

UsageDelta CodexStream::TakeDelta() {
  UsageDelta d = Subtract(usage_.usage, charged_);
  charged_ = usage_.usage;
  return d;
}

std::optional<bool> CodexStream::Succeeded() const {
  if (!usage_.has_result) return std::nullopt;
  return !turn_failed_;
}

}  // namespace overseer::service
