// JSON of resources: allocations, allocate and release bodies, quotas and usage (SPEC §3).
// Any thread.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/json_codec.h"
#include "common/result.h"
#include "core/types.h"
#include "service/types.h"

namespace overseer::api {

boost::json::object AllocationToJson(const core::Allocation& a);
// POST /api/resources/allocate {job_id, depth, worker_count}.
struct AllocateRequest {
  std::string job_id;
  int depth = 0;
  int worker_count = 1;
};
Result<AllocateRequest> ParseAllocateRequest(std::string_view body);
// POST /api/resources/release: exactly one of {allocation_id} or {job_id}.
struct ReleaseRequest {
  std::string allocation_id;
  std::string job_id;
};
Result<ReleaseRequest> ParseReleaseRequest(std::string_view body);

// GET /api/resources/quotas and /usage answers (SPEC §3).
boost::json::object QuotasToJson(const service::QuotasView& v);
boost::json::object UsageToJson(const service::QuotasView& v);
// A PUT /api/resources/quotas body: {"quotas":[{"depth":D,"max_workers":N},...]} ->
// (depth, max_workers) pairs, each depth at most once.
Result<std::vector<std::pair<int, int>>> ParseQuotasUpdate(std::string_view body);

}  // namespace overseer::api
