#include "service/runtimes/claude_stream.h"

#include <algorithm>
#include <array>
#include <bit>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "service/runtimes/stream_json.h"

namespace overseer::service {

namespace json = boost::json;
namespace sj = stream_json;

namespace {

std::string_view Bounded(std::string_view s, size_t max) { return s.substr(0, max); }

// `a` is `b`, compared here rather than by the library's memcmp: a few bytes, and a call into
// the library's code (cold between lines) costs more than the compare.
bool Is(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

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

namespace {

// The fields Feed reads from a Scan, in the order of kPaths.
enum Field : int {
  kType,
  kSubtype,
  kParent,
  kEventType,
  kStartMessage,
  kStartId,
  kStartModel,
  kStartUsage,
  kStartTokens,  // 4 fields: input, output, cache read, cache write (as TokenField)
  kDeltaUsage = kStartTokens + 4,
  kDeltaTokens,
  kMessage = kDeltaTokens + 4,
  kMessageId,
  kMessageModel,
  kMessageUsage,
  kMessageTokens,
  kBlock = kMessageTokens + 4,
  kBlockType,
  kBlockText,
  kFields
};

// Built at start (not on first use: no guard to check on every line).
const sj::ScanPaths kPaths{
    "type",
    "subtype",
    "parent_tool_use_id",
    "event.type",
    "event.message",
    "event.message.id",
    "event.message.model",
    "event.message.usage",
    "event.message.usage.input_tokens",
    "event.message.usage.output_tokens",
    "event.message.usage.cache_read_input_tokens",
    "event.message.usage.cache_creation_input_tokens",
    "event.usage",
    "event.usage.input_tokens",
    "event.usage.output_tokens",
    "event.usage.cache_read_input_tokens",
    "event.usage.cache_creation_input_tokens",
    "message",
    "message.id",
    "message.model",
    "message.usage",
    "message.usage.input_tokens",
    "message.usage.output_tokens",
    "message.usage.cache_read_input_tokens",
    "message.usage.cache_creation_input_tokens",
    "message.content[]",
    "message.content[].type",
    "message.content[].text",
};

// A token count in the order of Tokens' fields (0..3).
int64_t& TokenField(UsageDelta& t, int i) {
  switch (i) {
    case 0:
      return t.input_tokens;
    case 1:
      return t.output_tokens;
    case 2:
      return t.cache_read_tokens;
    default:
      return t.cache_write_tokens;
  }
}

}  // namespace

struct ClaudeStream::MessageLine {
  std::string_view parent;   // parent_tool_use_id
  bool has_message = false;  // message_start, assistant: "message" is an object
  std::string_view id;
  std::string_view model;
  bool has_usage = false;  // the message's (message_delta: the event's) "usage" is an object
  UsageDelta tokens;
  bool has_text = false;  // assistant: a text block was seen ...
  std::string_view text;  // ... and this is the last one's text
};

// A ScanSink that keeps what Feed reads: strings as views into the line, or decoded into
// buffers kept across lines.
class ClaudeStream::Scanned final : public sj::ScanSink {
 public:
  // Only the masks and what the last line set are cleared: the rest is cache lines that are
  // cold between lines.
  void Reset() {
    set_ = 0;
    decoded_ = 0;
    objects_ = 0;
    if (tokens_set_) start_ = delta_ = message_ = UsageDelta{};
    tokens_set_ = false;
    has_text_ = false;
    last_text_ = {};
  }

  bool OnValue(int field, const sj::ScanValue& v) override {
    using Kind = sj::ScanValue::Kind;
    const auto f = static_cast<size_t>(field);
    if (field == kBlock) {  // an element of message.content ends: a text block?
      if (v.kind == Kind::kObject && Is(Str(kBlockType), "text")) {
        has_text_ = true;
        last_text_ = Str(kBlockText);
        if (((decoded_ >> kBlockText) & 1) != 0) {  // kept past the next block's text
          last_buffer_.swap(buffer_[kBlockText]);
          last_text_ = last_buffer_;
        }
      }
      set_ &= ~((uint32_t{1} << kBlockType) | (uint32_t{1} << kBlockText));
      return true;
    }
    if (IsTokens(field, kStartTokens, start_) || IsTokens(field, kDeltaTokens, delta_) ||
        IsTokens(field, kMessageTokens, message_)) {
      std::optional<int64_t> n = sj::ScanCount(v);
      if (!n) return false;  // a number written otherwise: the parse reads it
      TokenField(*token_target_, token_index_) = *n;
      tokens_set_ = true;
      return true;
    }
    if (field == kStartMessage || field == kStartUsage || field == kDeltaUsage ||
        field == kMessage || field == kMessageUsage) {
      if (v.kind == Kind::kObject) objects_ |= uint32_t{1} << f;
      return true;
    }
    if (v.kind != Kind::kString) return true;  // read as "" (absent)
    set_ |= uint32_t{1} << f;
    if (v.escaped) {
      decoded_ |= uint32_t{1} << f;
      sj::Unescape(v.text, buffer_[f]);
      view_[f] = buffer_[f];
    } else {
      decoded_ &= ~(uint32_t{1} << f);
      view_[f] = v.text;
    }
    return true;
  }

  std::string_view Str(Field f) const {
    return (set_ >> f) & 1 ? view_[static_cast<size_t>(f)] : std::string_view();
  }
  bool Object(Field f) const { return ((objects_ >> f) & 1) != 0; }

  // The line's message fields: `message` is kStartMessage / kMessage / kDeltaUsage's event.
  MessageLine Message(Field message) const {
    MessageLine l;
    l.parent = Str(kParent);
    if (message == kStartMessage) {
      l.has_message = Object(kStartMessage);
      l.id = Str(kStartId);
      l.model = Str(kStartModel);
      l.has_usage = Object(kStartUsage);
      l.tokens = start_;
    } else if (message == kMessage) {
      l.has_message = Object(kMessage);
      l.id = Str(kMessageId);
      l.model = Str(kMessageModel);
      l.has_usage = Object(kMessageUsage);
      l.tokens = message_;
      l.has_text = has_text_;
      l.text = last_text_;
    } else {
      l.has_usage = Object(kDeltaUsage);
      l.tokens = delta_;
    }
    return l;
  }

 private:
  bool IsTokens(int field, int first, UsageDelta& target) {
    if (field < first || field >= first + 4) return false;
    token_target_ = &target;
    token_index_ = field - first;
    return true;
  }

  static_assert(kFields <= 32);
  uint32_t set_ = 0;      // bit f: view_[f] was set by this line (else it reads as "")
  uint32_t decoded_ = 0;  // bit f: view_[f] is buffer_[f] (the value was written with escapes)
  uint32_t objects_ = 0;  // bit f: the value at f is an object
  bool tokens_set_ = false;
  bool has_text_ = false;
  UsageDelta start_;            // event.message.usage
  UsageDelta delta_;            // event.usage
  UsageDelta message_;          // message.usage
  std::string_view last_text_;  // the last text block's text: into the line or last_buffer_
  std::array<std::string_view, kFields> view_;  // into the line, or buffer_[f]
  std::array<std::string, kFields> buffer_;     // escaped values, decoded
  std::string last_buffer_;
  UsageDelta* token_target_ = nullptr;
  int token_index_ = 0;
};

namespace {

// What Feed does with a line Scan vouched for.
ClaudeStream::LineClass ClassOf(const std::string_view type, const std::string_view subtype,
                                const std::string_view event_type) {
  using LineClass = ClaudeStream::LineClass;
  if (Is(type, "stream_event")) {
    return Is(event_type, "message_start") || Is(event_type, "message_delta") ? LineClass::kRead
                                                                              : LineClass::kSkip;
  }
  if (Is(type, "assistant")) return LineClass::kRead;
  if (Is(type, "user")) return LineClass::kSkip;
  if (Is(type, "system") && !Is(subtype, "init") && !Is(subtype, "api_retry")) {
    return LineClass::kSkip;
  }
  return LineClass::kParse;
}

// A line Feed counts without reading it, known by the opening bytes Claude Code writes it with:
// a stream_event whose event type is not message_start or message_delta, a `user` line, a
// `system` line whose subtype is not init or api_retry; confirmed by stream_json::Closes (the
// rest closes as an object, and repeats none of the keys that decided).
bool SkippedByItsOpening(std::string_view line) {
  static constexpr std::string_view kEvent = R"({"type":"stream_event","event":{"type":")";
  static constexpr std::string_view kUser = R"({"type":"user",)";
  static constexpr std::string_view kSystem = R"({"type":"system","subtype":")";
  // Compared here, not by the library's memcmp / memchr: a few bytes, and a call into the
  // library's code (cold between lines) costs more than the compare.
  auto starts = [line](std::string_view prefix) {
    if (line.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      if (line[i] != prefix[i]) return false;
    }
    return true;
  };
  // The name that follows `opening`, up to its quote, and the bytes after it; false if it is
  // written with an escape or is not a whole value.
  auto name_after = [line](std::string_view opening, std::string_view& name, size_t& rest) {
    size_t quote = opening.size();
    while (quote < line.size() && line[quote] != '"' && line[quote] != '\\') ++quote;
    if (quote + 1 >= line.size() || line[quote] != '"') return false;
    name = line.substr(opening.size(), quote - opening.size());
    rest = quote + 1;
    return line[rest] == ',' || line[rest] == '}';
  };
  std::string_view name;
  size_t rest = 0;
  if (starts(kEvent)) {
    return name_after(kEvent, name, rest) && !Is(name, "message_start") &&
           !Is(name, "message_delta") && sj::Closes(line, rest, 2, 2, {"type", "event"});
  }
  if (starts(kUser)) return sj::Closes(line, kUser.size(), 1, 1, {"type"});
  if (starts(kSystem)) {
    return name_after(kSystem, name, rest) && !Is(name, "init") && !Is(name, "api_retry") &&
           sj::Closes(line, rest, 1, 1, {"type", "subtype"});
  }
  return false;
}

}  // namespace

ClaudeStream::ClaudeStream(const PriceTable& prices)
    : prices_(prices), scanned_(std::make_unique<Scanned>()) {}
ClaudeStream::~ClaudeStream() = default;
ClaudeStream::ClaudeStream(ClaudeStream&&) noexcept = default;

ClaudeStream::LineClass ClaudeStream::Classify(std::string_view line) {
  if (SkippedByItsOpening(line)) return LineClass::kSkip;
  Scanned k;
  k.Reset();
  if (sj::Scan(line, kPaths, k) != sj::ScanResult::kObject) return LineClass::kParse;
  return ClassOf(k.Str(kType), k.Str(kSubtype), k.Str(kEventType));
}

void ClaudeStream::Feed(std::string_view line) {
  if (skipping_) {
    if (SkippedByItsOpening(line)) {
      ++usage_.lines;
      return;
    }
    Scanned& k = *scanned_;
    k.Reset();
    if (sj::Scan(line, kPaths, k) == sj::ScanResult::kObject) {
      switch (ClassOf(k.Str(kType), k.Str(kSubtype), k.Str(kEventType))) {
        case LineClass::kSkip:
          ++usage_.lines;
          return;
        case LineClass::kRead:
          ++usage_.lines;
          if (Is(k.Str(kType), "assistant")) {
            OnAssistant(k.Message(kMessage));
          } else if (Is(k.Str(kEventType), "message_start")) {
            OnMessageStart(k.Message(kStartMessage));
          } else {
            OnMessageDelta(k.Message(kDeltaUsage));
          }
          return;
        case LineClass::kParse:
          break;
      }
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
  // Most lines move nothing: answered without reading the totals (cold between lines).
  if (!usage_moved_) return {};
  usage_moved_ = false;
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
    if (Is(m.id, id) && Is(m.parent, parent)) return m;
  }
  if (messages_.size() >= kMessagesTracked) messages_.pop_front();
  Message& m = messages_.emplace_back();
  m.id = id;
  m.parent = parent;
  if (model.empty()) model = usage_.model;
  if (!has_priced_ || !Is(priced_model_, model)) {
    priced_ = prices_.Find(model);
    has_priced_ = model.size() <= AgentUsage::kIdMaxBytes;  // a longer name is not kept
    if (has_priced_) priced_model_ = model;
  }
  m.price = priced_.price;
  m.price_found = priced_.found;
  if (usage_.model.empty() && !model.empty() && model != "<synthetic>") {
    usage_.model = Bounded(model, AgentUsage::kIdMaxBytes);
  }
  return m;
}

void ClaudeStream::Observe(Message& m, const UsageDelta& now) {
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
  usage_moved_ = true;
  usage_.cost_estimated = true;
  usage_.cost_default_price = streamed_default_price_;
}

// A message's id, model and usage as a parse reads them.
void ClaudeStream::ReadMessage(const json::object* message, MessageLine& l) {
  l.has_message = message != nullptr;
  if (message == nullptr) return;
  l.id = sj::String(*message, "id");
  l.model = sj::String(*message, "model");
  const json::object* u = sj::Object(*message, "usage");
  l.has_usage = u != nullptr;
  if (u != nullptr) l.tokens = Tokens(*u);
}

void ClaudeStream::OnStreamEvent(const json::object& o) {
  const json::object* event = sj::Object(o, "event");
  if (event == nullptr) return;
  std::string_view type = sj::String(*event, "type");
  MessageLine l;
  l.parent = sj::String(o, "parent_tool_use_id");
  if (type == "message_start") {
    ReadMessage(sj::Object(*event, "message"), l);
    OnMessageStart(l);
  } else if (type == "message_delta") {
    const json::object* u = sj::Object(*event, "usage");
    l.has_usage = u != nullptr;
    if (u != nullptr) l.tokens = Tokens(*u);
    OnMessageDelta(l);
  }
}

void ClaudeStream::OnAssistant(const json::object& o) {
  MessageLine l;
  l.parent = sj::String(o, "parent_tool_use_id");
  const json::object* message = sj::Object(o, "message");
  ReadMessage(message, l);
  if (message == nullptr) return;
  if (const json::array* content = sj::Array(*message, "content")) {
    for (const json::value& block : *content) {
      const json::object* b = block.if_object();
      if (b != nullptr && sj::String(*b, "type") == "text") {
        l.has_text = true;
        l.text = sj::String(*b, "text");
      }
    }
  }
  OnAssistant(l);
}

void ClaudeStream::OnMessageStart(const MessageLine& l) {
  if (!l.has_message) return;
  Message& m = Track(l.id, l.parent, l.model);
  if (l.has_usage) Observe(m, l.tokens);
}

void ClaudeStream::OnMessageDelta(const MessageLine& l) {
  if (!l.has_usage) return;
  // No id: the delta belongs to the last message started under the same parent.
  for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
    if (Is(it->parent, Bounded(l.parent, AgentUsage::kIdMaxBytes))) {
      Observe(*it, l.tokens);
      return;
    }
  }
  Observe(Track("", l.parent, ""), l.tokens);
}

void ClaudeStream::OnAssistant(const MessageLine& l) {
  if (!l.has_message) return;
  Message& m = Track(l.id, l.parent, l.model);
  if (l.has_usage) Observe(m, l.tokens);
  if (!l.parent.empty()) return;  // a sub-agent's message
  // Blocks of one reply arrive as several lines sharing the message id: one turn.
  if (!m.turn_counted) {
    m.turn_counted = true;
    ++streamed_turns_;
  }
  if (!usage_.has_result) usage_.turns = streamed_turns_;
  if (l.has_text) usage_.last_text.Set(l.text, AgentUsage::kTextMaxBytes);
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
  usage_moved_ = true;
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
