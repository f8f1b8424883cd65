// The one place where error codes become HTTP: status per ErrorCode and the SPEC §4 body
// {"error":{"code","message","details"}}. Any thread.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "http/server.h"

namespace overseer::api {

unsigned HttpStatusFor(ErrorCode code);

// The SPEC §4 code a client reads in error.code: ErrorCodeName, except for the internal
// kConflict, sent as INVALID_STATE_TRANSITION (409).
std::string_view WireCodeFor(ErrorCode code);

// The SPEC §4 response for `error`: status, JSON body, and WWW-Authenticate (401) or
// Retry-After (503) where the code calls for it.
http::Response ErrorResponse(const Error& error, const std::string& request_id);

// ErrorRenderer for the http layer (404, 405, 413, 415, 500 raised before a handler).
http::Response RenderHttpError(const Error& error, const http::Request& request);

}  // namespace overseer::api
