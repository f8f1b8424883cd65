#include "core/events.h"

#include <cstdio>
#include <string>

namespace overseer::core {
namespace {

// Ids here are generated ([A-Za-z0-9_]) and never need escaping.
std::string Field(std::string_view name, int64_t v) {
  return "\"" + std::string(name) + "\":" + std::to_string(v);
}
std::string Field(std::string_view name, std::string_view v) {
  return "\"" + std::string(name) + "\":\"" + std::string(v) + "\"";
}

// A JSON string of caller text (valid UTF-8, checked by the front end): quotes, backslashes
// and control characters escaped.
std::string Quoted(std::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(static_cast<unsigned char>(c) >> 4) & 0xf];
          out += kHex[static_cast<unsigned char>(c) & 0xf];
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::string TextField(std::string_view name, std::string_view v) {
  return "\"" + std::string(name) + "\":" + Quoted(v);
}

std::string HaltData(const Halt& h) {
  return Field("mode", HaltModeName(h.mode)) + "," + TextField("reason", h.reason) + "," +
         "\"workspace_wide\":" + (h.workspace_wide ? "true" : "false");
}

}  // namespace

Event JobHaltedEvent(const std::string& workspace_id, const std::string& job_id, const Halt& h,
                     TimeMs now) {
  Event e;
  e.workspace_id = workspace_id;
  e.type = EventType::kJobHalted;
  e.job_id = job_id;
  e.data_json = "{" + HaltData(h) + "," + TextField("by", h.by) + "}";
  e.created_at = now;
  return e;
}

Event JobUnhaltedEvent(const std::string& workspace_id, const std::string& job_id,
                       const Halt& lifted, const std::string& by, TimeMs now) {
  Event e;
  e.workspace_id = workspace_id;
  e.type = EventType::kJobUnhalted;
  e.job_id = job_id;
  e.data_json = "{" + HaltData(lifted) + "," + TextField("halted_by", lifted.by) + "," +
                TextField("by", by) + "}";
  e.created_at = now;
  return e;
}

Event WorkerTransitionEvent(const Worker& w, std::string_view from, TimeMs now,
                            std::optional<int64_t> retry_in_ms) {
  Event e;
  e.workspace_id = w.workspace_id;
  e.type = EventType::kWorkerTransition;
  e.job_id = w.job_id;
  e.worker_id = w.id;
  e.from_state = std::string(from);
  e.to_state = std::string(WorkerStateName(w.status));
  e.reason = w.status_reason;
  e.data_json = "{" + Field("attempt", w.attempt);
  if (retry_in_ms) e.data_json += "," + Field("retry_in_ms", *retry_in_ms);
  e.data_json += "}";
  e.created_at = now;
  return e;
}

Event JobTransitionEvent(const Job& j, std::string_view from, TimeMs now) {
  Event e;
  e.workspace_id = j.workspace_id;
  e.type = EventType::kJobTransition;
  e.job_id = j.id;
  e.from_state = std::string(from);
  e.to_state = std::string(JobStateName(j.status));
  e.reason = j.status_reason;
  e.data_json = "{" + Field("depth", j.depth) + "}";
  e.created_at = now;
  return e;
}

Event AllocationEvent(EventType type, const Allocation& a, TimeMs now) {
  Event e;
  e.workspace_id = a.workspace_id;
  e.type = type;
  e.job_id = a.job_id;
  e.worker_id = a.worker_id;
  e.data_json = "{" + Field("allocation_id", a.id) + "," + Field("depth", a.depth) + "," +
                Field("worker_count", a.worker_count) + "}";
  e.created_at = now;
  return e;
}

Event BudgetExhaustedEvent(const Job& j, std::string_view limit, TimeMs now) {
  auto number = [](std::string_view name, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return "\"" + std::string(name) + "\":" + buf;
  };
  Event e;
  e.workspace_id = j.workspace_id;
  e.type = EventType::kBudgetExhausted;
  e.job_id = j.id;
  e.reason = "BUDGET_EXHAUSTED";
  const BudgetExhaustion mode = j.budget ? j.budget->on_exhausted : BudgetExhaustion::kPause;
  e.data_json =
      "{" + Field("limit", limit) + "," + Field("on_exhausted", BudgetExhaustionName(mode));
  if (j.budget && j.budget->usd) e.data_json += "," + number("budget_usd", *j.budget->usd);
  if (j.budget && j.budget->tokens) e.data_json += "," + Field("budget_tokens", *j.budget->tokens);
  e.data_json +=
      "," + number("usage_usd", j.usage.usd) + "," + Field("usage_tokens", j.usage.tokens) + "}";
  e.created_at = now;
  return e;
}

Event QuotaChangedEvent(const Quota& q, TimeMs now) {
  Event e;
  e.workspace_id = q.workspace_id;
  e.type = EventType::kQuotaChanged;
  e.data_json = "{" + Field("depth", q.depth) + "," + Field("max_workers", q.max_workers) + "}";
  e.created_at = now;
  return e;
}

}  // namespace overseer::core
