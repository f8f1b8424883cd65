// Builders of the event rows of SPEC §10: one per kind of change, so that every event of a
// kind has the same fields. Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/types.h"

namespace overseer::core {

// A worker moved from `from` to `w.status` (reason w.status_reason); data {"attempt": n} and,
// for a retry, "retry_in_ms".
Event WorkerTransitionEvent(const Worker& w, std::string_view from, TimeMs now,
                            std::optional<int64_t> retry_in_ms = std::nullopt);
// A job moved from `from` to `j.status` (reason j.status_reason).
Event JobTransitionEvent(const Job& j, std::string_view from, TimeMs now);
// Slots taken or given back: data {"allocation_id", "depth", "worker_count"}.
Event AllocationEvent(EventType type, const Allocation& a, TimeMs now);
// A halt thrown on job `job_id` ("" for the workspace-wide record of POST /api/halt): data
// {"mode", "reason", "by", "workspace_wide"}.
Event JobHaltedEvent(const std::string& workspace_id, const std::string& job_id, const Halt& h,
                     TimeMs now);
// The halt `lifted` taken off job `job_id` ("" for the workspace) by `by`: data {"mode",
// "reason", "halted_by", "by", "workspace_wide"}.
Event JobUnhaltedEvent(const std::string& workspace_id, const std::string& job_id,
                       const Halt& lifted, const std::string& by, TimeMs now);
// Job `j`'s budget is spent (SPEC §11): its subtree paused or ended. reason
// BUDGET_EXHAUSTED; data {"limit", "on_exhausted", "budget_usd"?, "budget_tokens"?,
// "usage_usd", "usage_tokens"}.
Event BudgetExhaustedEvent(const Job& j, std::string_view limit, TimeMs now);
// A workspace's limit at one depth changed: data {"depth", "max_workers"}.
Event QuotaChangedEvent(const Quota& q, TimeMs now);

}  // namespace overseer::core
