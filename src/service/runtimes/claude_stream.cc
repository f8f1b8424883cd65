#include "service/runtimes/claude_stream.h"

#include <algorithm>
#include <boost/json/value.hpp>

#include "service/runtimes/stream_json.h"

namespace overseer::service {

namespace json = boost::json;
namespace sj = stream_json;

namespace {

std::string_view Bounded(std::string_view s, size_t max) { return s.substr(0, max); }

// The token fields of an Anthropic usage object (snake_case) or a modelUsage entry
// (camelCase).
UsageDelta Tokens(const json::object& u) {
  UsageDelta t;
  t.input_tokens = sj::Count(u, "input_tokens");
  t.output_tokens = sj::Count(u, "output_tokens");
  t.cache_read_tokens = sj::Count(u, "cache_read_input_tokens");
  t.cache_write_tokens = sj::Count(u, "cache_creation_input_tokens");
  return t;
}

UsageDelta ModelUsageTokens(const json::object& u) {
  UsageDelta t;
  t.input_tokens = sj::Count(u, "inputTokens");
  t.output_tokens = sj::Count(u, "outputTokens");
  t.cache_read_tokens = sj::Count(u, "cacheReadInputTokens");
  t.cache_write_tokens = sj::Count(u, "cacheCreationInputTokens");
  return t;
}

void Add(UsageDelta& a, const UsageDelta& b) {
  a.input_tokens += b.input_tokens;
  a.output_tokens += b.output_tokens;
  a.cache_read_tokens += b.cache_read_tokens;
  a.cache_write_tokens += b.cache_write_tokens;
  a.reasoning_tokens += b.reasoning_tokens;
  a.cost_usd += b.cost_usd;
}

}  // namespace

ClaudeStream::ClaudeStream(const PriceTable& prices) : prices_(prices) {}

ClaudeStream::LineClass ClaudeStream::Classify(std::string_view line) {
  // The CLI writes each line with its keys in one order: a line whose first bytes are not one
  // of these is parsed, whatever it is.
  constexpr std::string_view kStreamEvent = R"({"type":"stream_event","event":{"type":")";
  constexpr std::string_view kUser = R"({"type":"user",)";
  constexpr std::string_view kSystem = R"({"type":"system","subtype":")";
  auto next_is = [&line](size_t at, std::string_view s) { return line.substr(at, s.size()) == s; };
  if (line.starts_with(kStreamEvent)) {
    if (next_is(kStreamEvent.size(), R"(message_start")") ||
        next_is(kStreamEvent.size(), R"(message_delta")")) {
      return LineClass::kParse;
    }
  } else if (line.starts_with(kSystem)) {
    if (next_is(kSystem.size(), R"(init")") || next_is(kSystem.size(), R"(api_retry")")) {
      return LineClass::kParse;
    }
  } else if (!line.starts_with(kUser)) {
    return LineClass::kParse;
  }
  std::string_view body = line;
  if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
  if (body.size() > sj::kLineMaxBytes) return LineClass::kParse;  // counted oversized there
  // The prefix only guessed; the scan decides, on the whole line (a duplicate key or a
  // different value later in it means a parse).
  const sj::Skimmed k = sj::Skim(body);
  if (!k.object) return LineClass::kMalformed;
  using State = sj::SkimField::State;
  if (k.type.Is("stream_event")) {
    if (k.event_type.state() == State::kString && !k.event_type.Is("message_start") &&
        !k.event_type.Is("message_delta")) {
      return LineClass::kSkip;
    }
  } else if (k.type.Is("user")) {
    return LineClass::kSkip;
  } else if (k.type.Is("system")) {
    if (k.subtype.state() == State::kString && !k.subtype.Is("init") &&
        !k.subtype.Is("api_retry")) {
      return LineClass::kSkip;
    }
  }
  return LineClass::kParse;
}

void ClaudeStream::Feed(std::string_view line) {
  if (skipping_) {
    switch (Classify(line)) {
      case LineClass::kSkip:
        ++usage_.lines;
        return;
      case LineClass::kMalformed:
        ++usage_.lines;
        ++usage_.malformed_lines;
        return;
      case LineClass::kParse:
        break;
    }
  }
  const json::object* o = parser_.Parse(line, usage_);
  if (o == nullptr) return;
  std::string_view type = sj::String(*o, "type");
  if (type == "stream_event") {
    OnStreamEvent(*o);
  } else if (type == "assistant") {
    OnAssistant(*o);
  } else if (type == "system") {
    OnSystem(*o);
  } else if (type == "result") {
    OnResult(*o);
  } else if (type != "user") {  // tool results: nothing to account
    ++usage_.unknown_lines;
  }
}

UsageDelta ClaudeStream::TakeDelta() {
  UsageDelta d = Subtract(usage_.usage, charged_);
  charged_ = usage_.usage;
  return d;
}

std::optional<bool> ClaudeStream::Succeeded() const {
  if (!usage_.has_result) return std::nullopt;
  return !usage_.is_error && (usage_.subtype.empty() || usage_.subtype == "success");
}

void ClaudeStream::OnSystem(const json::object& o) {
  std::string_view subtype = sj::String(o, "subtype");
  if (subtype == "init") {
    std::string_view sid = sj::String(o, "session_id");
    if (!sid.empty()) usage_.session_id = Bounded(sid, AgentUsage::kIdMaxBytes);
    std::string_view model = sj::String(o, "model");
    if (!model.empty()) usage_.model = Bounded(model, AgentUsage::kIdMaxBytes);
  } else if (subtype == "api_retry") {
    // Until a result line says otherwise, the run is retrying an API error.
    int64_t status = sj::Count(o, "error_status");
    if (status > 0 && status < 1000) usage_.api_error_status = static_cast<int>(status);
    std::string_view error = sj::String(o, "error");
    if (!error.empty()) usage_.error_message.Set(error, AgentUsage::kMessageMaxBytes);
  }
}

ClaudeStream::Message& ClaudeStream::Track(std::string_view id, std::string_view parent,
                                           std::string_view model) {
  id = Bounded(id, AgentUsage::kIdMaxBytes);
  parent = Bounded(parent, AgentUsage::kIdMaxBytes);
  for (Message& m : messages_) {
    if (m.id == id && m.parent == parent) return m;
  }
  if (messages_.size() >= kMessagesTracked) messages_.pop_front();
  Message& m = messages_.emplace_back();
  m.id = id;
  m.parent = parent;
  if (model.empty()) model = usage_.model;
  PriceTable::Lookup price = prices_.Find(model);
  m.price = price.price;
  m.price_found = price.found;
  if (usage_.model.empty() && !model.empty() && model != "<synthetic>") {
    usage_.model = Bounded(model, AgentUsage::kIdMaxBytes);
  }
  return m;
}

void ClaudeStream::Observe(Message& m, const json::object& u) {
  UsageDelta now = Tokens(u);
  UsageDelta grown;
  grown.input_tokens = std::max<int64_t>(0, now.input_tokens - m.seen.input_tokens);
  grown.output_tokens = std::max<int64_t>(0, now.output_tokens - m.seen.output_tokens);
  grown.cache_read_tokens = std::max<int64_t>(0, now.cache_read_tokens - m.seen.cache_read_tokens);
  grown.cache_write_tokens =
      std::max<int64_t>(0, now.cache_write_tokens - m.seen.cache_write_tokens);
  if (grown.empty()) return;
  grown.cost_usd = PriceTable::Cost(m.price, grown);
  Add(m.seen, grown);
  if (usage_.has_result) return;  // the result line's totals are final
  Add(streamed_, grown);
  if (!m.price_found) streamed_default_price_ = true;
  usage_.usage = streamed_;
  usage_.cost_estimated = true;
  usage_.cost_default_price = streamed_default_price_;
}

void ClaudeStream::OnStreamEvent(const json::object& o) {
  const json::object* event = sj::Object(o, "event");
  if (event == nullptr) return;
  std::string_view type = sj::String(*event, "type");
  std::string_view parent = sj::String(o, "parent_tool_use_id");
  if (type == "message_start") {
    const json::object* message = sj::Object(*event, "message");
    if (message == nullptr) return;
    Message& m = Track(sj::String(*message, "id"), parent, sj::String(*message, "model"));
    if (const json::object* u = sj::Object(*message, "usage")) Observe(m, *u);
  } else if (type == "message_delta") {
    const json::object* u = sj::Object(*event, "usage");
    if (u == nullptr) return;
    // No id: the delta belongs to the last message started under the same parent.
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      if (it->parent == Bounded(parent, AgentUsage::kIdMaxBytes)) {
        Observe(*it, *u);
        return;
      }
    }
    Observe(Track("", parent, ""), *u);
  }
}

void ClaudeStream::OnAssistant(const json::object& o) {
  const json::object* message = sj::Object(o, "message");
  if (message == nullptr) return;
  std::string_view parent = sj::String(o, "parent_tool_use_id");
  std::string_view id = sj::String(*message, "id");
  Message& m = Track(id, parent, sj::String(*message, "model"));
  if (const json::object* u = sj::Object(*message, "usage")) Observe(m, *u);
  if (!parent.empty()) return;  // a sub-agent's message
  // Blocks of one reply arrive as several lines sharing the message id: one turn.
  if (!m.turn_counted) {
    m.turn_counted = true;
    ++streamed_turns_;
  }
  if (!usage_.has_result) usage_.turns = streamed_turns_;
  if (const json::array* content = sj::Array(*message, "content")) {
    for (const json::value& block : *content) {
      const json::object* b = block.if_object();
      if (b != nullptr && sj::String(*b, "type") == "text") {
        usage_.last_text.Set(sj::String(*b, "text"), AgentUsage::kTextMaxBytes);
      }
    }
  }
}

void ClaudeStream::OnResult(const json::object& o) {
  usage_.has_result = true;
  usage_.subtype = Bounded(sj::String(o, "subtype"), AgentUsage::kIdMaxBytes);
  usage_.is_error = sj::True(o, "is_error");
  int64_t status = sj::Count(o, "api_error_status");
  usage_.api_error_status = status < 1000 ? static_cast<int>(status) : 0;
  std::string_view terminal = sj::String(o, "terminal_reason");
  usage_.terminal_reason = Bounded(terminal, AgentUsage::kIdMaxBytes);
  std::string_view sid = sj::String(o, "session_id");
  if (!sid.empty()) usage_.session_id = Bounded(sid, AgentUsage::kIdMaxBytes);
  if (int64_t turns = sj::Count(o, "num_turns"); turns > 0) usage_.turns = turns;
  usage_.result.Set(sj::String(o, "result"), AgentUsage::kResultMaxBytes);

  // Why it failed: the CLI's own errors ("Reached maximum number of turns (1)"), else the
  // result text of an error ("API Error: 500 ...").
  std::string_view error;
  if (const json::array* errors = sj::Array(o, "errors"); errors != nullptr && !errors->empty()) {
    error = sj::String(errors->front());
  }
  if (error.empty() && usage_.is_error) error = sj::String(o, "result");
  if (!error.empty()) {
    usage_.error_message.Set(error, AgentUsage::kMessageMaxBytes);
  } else if (!usage_.is_error) {
    usage_.error_message = {};
  }

  usage_.permission_denials = 0;
  usage_.denied_tools.clear();
  if (const json::array* denials = sj::Array(o, "permission_denials")) {
    usage_.permission_denials = static_cast<int64_t>(denials->size());
    for (const json::value& d : *denials) {
      const json::object* denial = d.if_object();
      if (denial == nullptr) continue;
      std::string_view tool =
          Bounded(sj::String(*denial, "tool_name"), AgentUsage::kToolNameMaxBytes);
      if (tool.empty() || usage_.denied_tools.size() >= AgentUsage::kDeniedToolsMax) continue;
      if (std::find(usage_.denied_tools.begin(), usage_.denied_tools.end(), tool) ==
          usage_.denied_tools.end()) {
        usage_.denied_tools.emplace_back(tool);
      }
    }
  }

  // Totals: result.usage or the modelUsage sum, whichever is larger, unless both are zero.
  UsageDelta from_usage;
  if (const json::object* u = sj::Object(o, "usage")) from_usage = Tokens(*u);
  UsageDelta from_models;
  double models_cost = 0;
  double models_estimate = 0;
  bool models_default_price = false;
  if (const json::object* mu = sj::Object(o, "modelUsage")) {
    for (const auto& [name, entry] : *mu) {
      const json::object* e = entry.if_object();
      if (e == nullptr) continue;
      UsageDelta t = ModelUsageTokens(*e);
      PriceTable::Lookup price = prices_.Find(std::string_view(name.data(), name.size()));
      models_estimate += PriceTable::Cost(price.price, t);
      if (!price.found && t.total_tokens() > 0) models_default_price = true;
      Add(from_models, t);
      models_cost += sj::Number(*e, "costUSD").value_or(0);
    }
  }
  UsageDelta final_tokens = streamed_;
  double estimate = streamed_.cost_usd;
  bool default_price = streamed_default_price_;
  if (from_usage.total_tokens() > 0 || from_models.total_tokens() > 0) {
    if (from_models.total_tokens() >= from_usage.total_tokens()) {
      final_tokens = from_models;
      estimate = models_estimate;
      default_price = models_default_price;
    } else {
      final_tokens = from_usage;
      PriceTable::Lookup price = prices_.Find(usage_.model);
      estimate = PriceTable::Cost(price.price, from_usage);
      default_price = !price.found;
    }
  }
  std::optional<double> total_cost = sj::Number(o, "total_cost_usd");
  usage_.usage = final_tokens;
  if (total_cost.value_or(0) > 0) {
    usage_.usage.cost_usd = *total_cost;
    usage_.cost_estimated = false;
    usage_.cost_default_price = false;
  } else if (models_cost > 0) {
    usage_.usage.cost_usd = models_cost;
    usage_.cost_estimated = false;
    usage_.cost_default_price = false;
  } else if (final_tokens.total_tokens() == 0) {
    usage_.usage.cost_usd = 0;
    usage_.cost_estimated = false;
    usage_.cost_default_price = false;
  } else {
    usage_.usage.cost_usd = estimate;
    usage_.cost_estimated = true;
    usage_.cost_default_price = default_price;
  }
}

}  // namespace overseer::service
