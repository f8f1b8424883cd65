// Result<T> / Status: expected failures as values, shaped like std::expected.
// Error codes mirror SPEC §4 one to one, plus kConflict (internal, see below). Any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/check.h"

namespace overseer {

enum class ErrorCode {
  kInvalidRequest,          // 400 INVALID_REQUEST
  kUnauthenticated,         // 401 UNAUTHENTICATED
  kInsufficientScope,       // 403 INSUFFICIENT_SCOPE
  kNotFound,                // 404 NOT_FOUND
  kMethodNotAllowed,        // 405 METHOD_NOT_ALLOWED
  kInvalidStateTransition,  // 409 INVALID_STATE_TRANSITION
  kQuotaExceeded,           // 409 QUOTA_EXCEEDED
  kRequestInProgress,       // 409 REQUEST_IN_PROGRESS
  kHalted,                  // 409 HALTED (a halted subtree or workspace refuses it)
  kPayloadTooLarge,         // 413 PAYLOAD_TOO_LARGE
  kUnsupportedMediaType,    // 415 UNSUPPORTED_MEDIA_TYPE
  kMaxDepthExceeded,        // 422 MAX_DEPTH_EXCEEDED
  kIdempotencyKeyReused,    // 422 IDEMPOTENCY_KEY_REUSED
  kBudgetExceeded,          // 422 BUDGET_EXCEEDED (a job's budget does not fit, or is spent)
  kConflict,                // internal (below); 409 INVALID_STATE_TRANSITION on the wire
  kInternal,                // 500 INTERNAL
  kUnavailable,             // 503 UNAVAILABLE
};

// kConflict is not a SPEC §4 code. It says: someone else changed it first, retrying may
// succeed. A store answers it for a failed status compare-and-set (details: current_state)
// or a failed ChangeSet precondition (details: job_id, current_state), and later for a
// transaction the database aborted (serialization failure, deadlock). Services re-read and
// retry, or turn it into the user-level answer (kInvalidStateTransition with
// requested_state). One that still reaches a client is 409 INVALID_STATE_TRANSITION
// (api/error_mapping.cc).

// The SPEC §4 spelling, e.g. "INVALID_REQUEST"; "CONFLICT" for kConflict (logs only: the api
// writes the wire code, api::WireCodeFor).
std::string_view ErrorCodeName(ErrorCode code);

// One flat detail value: a string, an integer or a number (an amount of money).
using DetailValue = std::variant<std::string, int64_t, double>;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;                                       // may reach clients
  std::vector<std::pair<std::string, DetailValue>> details;  // flat

  Error& With(std::string key, std::string value) {
    details.emplace_back(std::move(key), DetailValue(std::move(value)));
    return *this;
  }
  Error& With(std::string key, int64_t value) {
    details.emplace_back(std::move(key), DetailValue(value));
    return *this;
  }
  Error& With(std::string key, const char* value) {
    return With(std::move(key), std::string(value));
  }
  Error& With(std::string key, int value) {
    return With(std::move(key), static_cast<int64_t>(value));
  }
  Error& With(std::string key, double value) {
    details.emplace_back(std::move(key), DetailValue(value));
    return *this;
  }
};

inline Error MakeError(ErrorCode code, std::string message) {
  return Error{code, std::move(message), {}};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  // Default: an internal error (co_spawn needs a default-constructible result).
  Result() : v_(std::in_place_index<1>, Error{ErrorCode::kInternal, "uninitialized result", {}}) {}
  // NOLINTNEXTLINE(google-explicit-constructor): converts implicitly, as std::expected does
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  // NOLINTNEXTLINE(google-explicit-constructor): converts implicitly, as std::expected does
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    OVERSEER_CHECK(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    OVERSEER_CHECK(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    OVERSEER_CHECK(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    OVERSEER_CHECK(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    OVERSEER_CHECK(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;  // success
  // NOLINTNEXTLINE(google-explicit-constructor): converts implicitly, as std::expected does
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const& {
    OVERSEER_CHECK(!ok_);
    return error_;
  }
  Error&& error() && {
    OVERSEER_CHECK(!ok_);
    return std::move(error_);
  }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status OkStatus() { return Status(); }

}  // namespace overseer
