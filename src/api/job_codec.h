// JSON of jobs: the job, its view and tree (SPEC §3 job fields), and the strict parsing of
// a POST /api/jobs body. Any thread.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/json_codec.h"
#include "common/result.h"
#include "core/types.h"
#include "service/types.h"

namespace overseer::api {

boost::json::object JobToJson(const core::Job& j);
// A job's `halted` (SPEC §11): {"mode","reason","by","at","scope":"job"|"workspace"}, or null.
boost::json::value HaltToJson(const std::optional<core::Halt>& h);
boost::json::object JobViewToJson(const service::JobView& v);
// The root job with nested `children` (each a job with its own `children`), and
// `truncated` on the root.
boost::json::object JobTreeToJson(const service::JobTreeView& v);

// A job's `budget` (SPEC §11) and its parsing: {"usd","tokens","max_children",
// "max_descendants","on_exhausted"}; null limits are none.
boost::json::value BudgetToJson(const std::optional<core::Budget>& b);
Result<core::Budget> ParseBudget(const boost::json::value& v);
// A PATCH /api/jobs/{id} body: {"budget": {...} | null} (null removes it).
Result<std::optional<core::Budget>> ParseBudgetPatch(std::string_view body);
// `usage` {usd, tokens, descendants, children} and `budget_left` {usd, tokens} | null.
boost::json::object UsageToJson(const core::JobUsage& u);
boost::json::value BudgetLeftToJson(const std::optional<core::BudgetLeft>& l);

// Parses and checks a POST /api/jobs body.
Result<service::JobSpec> ParseJobSpec(std::string_view body, const service::Runtimes& runtimes);

}  // namespace overseer::api
