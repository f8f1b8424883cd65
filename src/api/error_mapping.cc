#include "api/error_mapping.h"

#include <boost/json.hpp>

#include "common/utf8.h"

namespace overseer::api {
namespace json = boost::json;

unsigned HttpStatusFor(ErrorCode code) {
  // One line per code, in SPEC §4's order (several codes share a status).
  // clang-format off
  // NOLINTBEGIN(bugprone-branch-clone)
  switch (code) {
    case ErrorCode::kInvalidRequest:
      return 400;
    case ErrorCode::kUnauthenticated:
      return 401;
    case ErrorCode::kInsufficientScope:
      return 403;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kMethodNotAllowed:
      return 405;
    case ErrorCode::kInvalidStateTransition:
      return 409;
    case ErrorCode::kQuotaExceeded:
      return 409;
    case ErrorCode::kRequestInProgress:
      return 409;
    case ErrorCode::kHalted:
      return 409;
    case ErrorCode::kPayloadTooLarge:
      return 413;
    case ErrorCode::kUnsupportedMediaType:
      return 415;
    case ErrorCode::kMaxDepthExceeded:
      return 422;
    case ErrorCode::kIdempotencyKeyReused:
      return 422;
    case ErrorCode::kBudgetExceeded:
      return 422;
    case ErrorCode::kConflict:
      return 409;  // as the SPEC code it is sent as
    case ErrorCode::kInternal:
      return 500;
    case ErrorCode::kUnavailable:
      return 503;
  }
  // NOLINTEND(bugprone-branch-clone)
  // clang-format on
  return 500;
}

bool IsReplayable(ErrorCode code) {
  // One arm per code, like the status table above: arms that answer the same are not clones.
  // NOLINTBEGIN(bugprone-branch-clone)
  switch (code) {
    case ErrorCode::kNotFound:
      return true;
    case ErrorCode::kInvalidStateTransition:
      return true;
    case ErrorCode::kQuotaExceeded:
      return true;
    case ErrorCode::kMaxDepthExceeded:
      return true;
    case ErrorCode::kIdempotencyKeyReused:
      return true;
    case ErrorCode::kInvalidRequest:
      return false;
    case ErrorCode::kUnauthenticated:
      return false;
    case ErrorCode::kInsufficientScope:
      return false;
    case ErrorCode::kMethodNotAllowed:
      return false;
    // Answered by the idempotency check itself, never stored: a later retry must run.
    case ErrorCode::kRequestInProgress:
      return false;
    // A halt can be lifted: a retry after the unhalt must run.
    case ErrorCode::kHalted:
      return false;
    // A budget can be raised: a retry after the PATCH must run.
    case ErrorCode::kBudgetExceeded:
      return false;
    case ErrorCode::kPayloadTooLarge:
      return false;
    case ErrorCode::kUnsupportedMediaType:
      return false;
    case ErrorCode::kInternal:
      return false;
    case ErrorCode::kUnavailable:
      return false;
    // Someone else changed it first: a retry may find it changed again, or succeed.
    case ErrorCode::kConflict:
      return false;
  }
  // NOLINTEND(bugprone-branch-clone)
  return false;
}

std::string_view WireCodeFor(ErrorCode code) {
  // A conflict that no service resolved is what the client would have been told a moment
  // later: the state it asked to change is no longer the one it saw (details.current_state).
  // 409 as HTTP's "conflict with the current state of the resource"; not 503 UNAVAILABLE,
  // which says the database is unreachable and invites a blind retry.
  if (code == ErrorCode::kConflict) return ErrorCodeName(ErrorCode::kInvalidStateTransition);
  return ErrorCodeName(code);
}

http::Response ErrorResponse(const Error& error, const std::string& request_id) {
  json::object details;
  for (const auto& [key, value] : error.details) {
    if (const auto* s = std::get_if<std::string>(&value)) {
      details[key] = ValidUtf8(*s);
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      details[key] = *i;
    } else {
      details[key] = std::get<double>(value);
    }
  }
  // Request text reaches messages and details (EchoText where it is put in); ValidUtf8 here
  // keeps every error body UTF-8 whatever a caller forgot: Boost.JSON writes bytes through.
  std::string message = ValidUtf8(error.message);
  if (error.code == ErrorCode::kInternal) {
    // No internals reach the client; the log line carries them with the request id.
    message = "internal error; request id " + request_id;
    details = json::object{};
  }
  json::object body{{"error", json::object{{"code", WireCodeFor(error.code)},
                                           {"message", message},
                                           {"details", std::move(details)}}}};
  http::Response r;
  r.status = HttpStatusFor(error.code);
  r.error_code = error.code;
  r.body = json::serialize(body);
  if (error.code == ErrorCode::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"overseer\"");
  }
  if (error.code == ErrorCode::kUnavailable) r.headers.emplace_back("Retry-After", "5");
  return r;
}

http::Response RenderHttpError(const Error& error, const http::Request& request) {
  return ErrorResponse(error, request.request_id);
}

}  // namespace overseer::api
