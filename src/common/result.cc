#include "common/result.h"

namespace overseer {

std::string_view ErrorCodeName(ErrorCode code) {
  // clang-format off
  switch (code) {
    case ErrorCode::kInvalidRequest:
      return "INVALID_REQUEST";
    case ErrorCode::kUnauthenticated:
      return "UNAUTHENTICATED";
    case ErrorCode::kInsufficientScope:
      return "INSUFFICIENT_SCOPE";
    case ErrorCode::kNotFound:
      return "NOT_FOUND";
    case ErrorCode::kMethodNotAllowed:
      return "METHOD_NOT_ALLOWED";
    case ErrorCode::kInvalidStateTransition:
      return "INVALID_STATE_TRANSITION";
    case ErrorCode::kQuotaExceeded:
      return "QUOTA_EXCEEDED";
    case ErrorCode::kRequestInProgress:
      return "REQUEST_IN_PROGRESS";
    case ErrorCode::kHalted:
      return "HALTED";
    case ErrorCode::kPayloadTooLarge:
      return "PAYLOAD_TOO_LARGE";
    case ErrorCode::kUnsupportedMediaType:
      return "UNSUPPORTED_MEDIA_TYPE";
    case ErrorCode::kMaxDepthExceeded:
      return "MAX_DEPTH_EXCEEDED";
    case ErrorCode::kIdempotencyKeyReused:
      return "IDEMPOTENCY_KEY_REUSED";
    case ErrorCode::kBudgetExceeded:
      return "BUDGET_EXCEEDED";
    case ErrorCode::kConflict:
      return "CONFLICT";
    case ErrorCode::kInternal:
      return "INTERNAL";
    case ErrorCode::kUnavailable:
      return "UNAVAILABLE";
  }
  // clang-format on
  return "INTERNAL";
}

}  // namespace overseer
