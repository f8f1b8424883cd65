// The one place where error codes become HTTP: status per ErrorCode and the SPEC §4 body
// {"error":{"code","message","details"}}. Any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "http/server.h"

namespace overseer::api {

unsigned HttpStatusFor(ErrorCode code);

// True if a response carrying `code` is the final answer to a valid request, so that it
// is stored under its Idempotency-Key and replayed to a retry (SPEC §6): NOT_FOUND, a
// refused state transition, a full quota, too deep. False where a retry may succeed or
// the request never ran (bad input, auth, in progress, internal, unavailable).
bool IsReplayable(ErrorCode code);

// The SPEC §4 code a client reads in error.code: ErrorCodeName, except for the internal
// kConflict, sent as INVALID_STATE_TRANSITION (409).
std::string_view WireCodeFor(ErrorCode code);

// The SPEC §4 response for `error`: status, JSON body, and WWW-Authenticate (401) or
// Retry-After (503) where the code calls for it.
http::Response ErrorResponse(const Error& error, const std::string& request_id);

// ErrorRenderer for the http layer (404, 405, 413, 415, 500 raised before a handler).
http::Response RenderHttpError(const Error& error, const http::Request& request);

}  // namespace overseer::api
