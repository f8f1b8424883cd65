#include "service/runtimes/agent_record.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "service/runtimes/stream_json.h"

namespace overseer::service {
namespace json = boost::json;
using stream_json::Count;
using stream_json::True;

namespace {

// The stored record is read with the stream's lenient readers: a field of the wrong type
// reads as absent.
std::string Text(const json::object& o, std::string_view key) {
  return std::string(stream_json::String(o, key));
}
double Real(const json::object& o, std::string_view key) {
  return stream_json::Number(o, key).value_or(0);
}

json::object UsageJson(const UsageDelta& u) {
  return json::object{{"input_tokens", u.input_tokens},
                      {"output_tokens", u.output_tokens},
                      {"cache_read_tokens", u.cache_read_tokens},
                      {"cache_write_tokens", u.cache_write_tokens},
                      {"reasoning_tokens", u.reasoning_tokens},
                      {"total_tokens", u.total_tokens()},
                      {"cost_usd", u.cost_usd}};
}

UsageDelta ReadUsage(const json::object& o) {
  UsageDelta u;
  u.input_tokens = Count(o, "input_tokens");
  u.output_tokens = Count(o, "output_tokens");
  u.cache_read_tokens = Count(o, "cache_read_tokens");
  u.cache_write_tokens = Count(o, "cache_write_tokens");
  u.reasoning_tokens = Count(o, "reasoning_tokens");
  u.cost_usd = Real(o, "cost_usd");
  return u;
}

}  // namespace

UsageDelta Add(const UsageDelta& a, const UsageDelta& b) {
  UsageDelta d;
  d.input_tokens = a.input_tokens + b.input_tokens;
  d.output_tokens = a.output_tokens + b.output_tokens;
  d.cache_read_tokens = a.cache_read_tokens + b.cache_read_tokens;
  d.cache_write_tokens = a.cache_write_tokens + b.cache_write_tokens;
  d.reasoning_tokens = a.reasoning_tokens + b.reasoning_tokens;
  d.cost_usd = a.cost_usd + b.cost_usd;
  return d;
}

AgentRecord CombineAttempt(const AgentRecord& prior, const AgentUsage& a, bool resumed) {
  AgentRecord r = prior;
  if (a.lines == 0) return r;  // the attempt told nothing (yet)
  r.attempts = prior.attempts + 1;
  if (!a.session_id.empty()) r.session_id = a.session_id;
  if (!a.model.empty()) r.model = a.model;
  r.turns = prior.turns + a.turns;
  r.usage = Add(prior.usage, a.usage);
  r.session = resumed ? Add(prior.session, a.usage) : a.usage;
  r.cost_estimated = prior.cost_estimated || a.cost_estimated;
  r.cost_default_price = prior.cost_default_price || a.cost_default_price;
  r.result = a.result.text;
  r.result_truncated = a.result.truncated;
  r.is_error = a.is_error;
  r.subtype = a.subtype;
  r.api_error_status = a.api_error_status;
  r.error_message = a.error_message.text;
  r.permission_denials = a.permission_denials;
  r.denied_tools = a.denied_tools;
  r.malformed_lines = prior.malformed_lines + a.malformed_lines;
  return r;
}

std::string AgentRecordJson(const AgentRecord& r) {
  json::object o;
  o.reserve(28);
  o["runtime"] = r.runtime;
  o["session_id"] = r.session_id.empty() ? json::value(nullptr) : json::value(r.session_id);
  o["model"] = r.model.empty() ? json::value(nullptr) : json::value(r.model);
  o["turns"] = r.turns;
  o["input_tokens"] = r.usage.input_tokens;
  o["output_tokens"] = r.usage.output_tokens;
  o["cache_read_tokens"] = r.usage.cache_read_tokens;
  o["cache_write_tokens"] = r.usage.cache_write_tokens;
  o["reasoning_tokens"] = r.usage.reasoning_tokens;
  o["total_tokens"] = r.usage.total_tokens();
  o["cost_usd"] = r.usage.cost_usd;
  o["cost_estimated"] = r.cost_estimated;
  o["cost_default_price"] = r.cost_default_price;
  o["session"] = UsageJson(r.session);
  o["attempts"] = r.attempts;
  o["result"] = r.attempts == 0 ? json::value(nullptr) : json::value(r.result);
  o["result_truncated"] = r.result_truncated;
  o["is_error"] = r.is_error;
  o["subtype"] = r.subtype.empty() ? json::value(nullptr) : json::value(r.subtype);
  o["api_error_status"] =
      r.api_error_status == 0 ? json::value(nullptr) : json::value(r.api_error_status);
  o["error_message"] =
      r.error_message.empty() ? json::value(nullptr) : json::value(r.error_message);
  o["permission_denials"] = r.permission_denials;
  json::array denied;
  for (const std::string& t : r.denied_tools) denied.emplace_back(t);
  o["denied_tools"] = std::move(denied);
  o["malformed_lines"] = r.malformed_lines;
  return json::serialize(o);
}

AgentRecord ParseAgentRecord(std::string_view text) {
  AgentRecord r;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return r;
  const json::object& o = v.as_object();
  r.runtime = Text(o, "runtime");
  r.session_id = Text(o, "session_id");
  r.model = Text(o, "model");
  r.turns = Count(o, "turns");
  r.usage = ReadUsage(o);
  if (const json::value* s = o.if_contains("session"); s != nullptr && s->is_object()) {
    r.session = ReadUsage(s->as_object());
  }
  r.attempts = static_cast<int>(Count(o, "attempts"));
  r.cost_estimated = True(o, "cost_estimated");
  r.cost_default_price = True(o, "cost_default_price");
  r.result = Text(o, "result");
  r.result_truncated = True(o, "result_truncated");
  r.is_error = True(o, "is_error");
  r.subtype = Text(o, "subtype");
  r.api_error_status = static_cast<int>(Count(o, "api_error_status"));
  r.error_message = Text(o, "error_message");
  r.permission_denials = Count(o, "permission_denials");
  if (const json::value* d = o.if_contains("denied_tools"); d != nullptr && d->is_array()) {
    for (const json::value& t : d->as_array()) {
      if (t.is_string()) r.denied_tools.emplace_back(t.as_string());
    }
  }
  r.malformed_lines = Count(o, "malformed_lines");
  return r;
}

}  // namespace overseer::service
