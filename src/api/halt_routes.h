// The kill switch's REST routes (SPEC §11): POST /api/jobs/{id}/halt and /unhalt, GET and POST
// /api/halt, POST /api/unhalt; their JSON codec; and the `halted` object of a job. Handlers run
// on the loop; the codec functions on any thread. (A job's `halted` object: job_codec.h.)
#pragma once

#include <boost/json.hpp>
#include <string_view>

#include "api/routes.h"
#include "core/types.h"
#include "http/router.h"

namespace overseer::api {

// {"mode":"freeze"|"terminate" (default freeze), "reason": 1..1000 printable characters
// (required), "grace_seconds": 0..300 (default 5; terminate only: SIGTERM -> SIGKILL)}.
struct HaltRequest {
  core::HaltMode mode = core::HaltMode::kFreeze;
  std::string reason;
  int grace_seconds = 5;
};
inline constexpr size_t kHaltReasonMax = 1000;
Result<HaltRequest> ParseHaltRequest(std::string_view body);

void RegisterHaltRoutes(http::Router& router, ApiContext& ctx);

}  // namespace overseer::api
