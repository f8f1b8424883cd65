#include "api/error_mapping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <iterator>
#include <string_view>
#include <vector>

#include "common/utf8.h"

namespace overseer::api {
namespace {
namespace json = boost::json;

// The whole error -> HTTP table of SPEC §4, and which answers an Idempotency-Key stores.
struct Row {
  ErrorCode code;
  std::string_view name;
  unsigned status;
  bool replayable;
};
constexpr Row kTable[] = {
    {ErrorCode::kInvalidRequest, "INVALID_REQUEST", 400, false},
    {ErrorCode::kUnauthenticated, "UNAUTHENTICATED", 401, false},
    {ErrorCode::kInsufficientScope, "INSUFFICIENT_SCOPE", 403, false},
    {ErrorCode::kNotFound, "NOT_FOUND", 404, true},
    {ErrorCode::kMethodNotAllowed, "METHOD_NOT_ALLOWED", 405, false},
    {ErrorCode::kInvalidStateTransition, "INVALID_STATE_TRANSITION", 409, true},
    {ErrorCode::kQuotaExceeded, "QUOTA_EXCEEDED", 409, true},
    {ErrorCode::kRequestInProgress, "REQUEST_IN_PROGRESS", 409, false},
    {ErrorCode::kHalted, "HALTED", 409, false},
    {ErrorCode::kPayloadTooLarge, "PAYLOAD_TOO_LARGE", 413, false},
    {ErrorCode::kUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE", 415, false},
    {ErrorCode::kMaxDepthExceeded, "MAX_DEPTH_EXCEEDED", 422, true},
    {ErrorCode::kIdempotencyKeyReused, "IDEMPOTENCY_KEY_REUSED", 422, true},
    // A budget can be raised: not stored, a retry after the PATCH runs.
    {ErrorCode::kBudgetExceeded, "BUDGET_EXCEEDED", 422, false},
    {ErrorCode::kInternal, "INTERNAL", 500, false},
    {ErrorCode::kUnavailable, "UNAVAILABLE", 503, false},
    // Internal (logs); a client reads INVALID_STATE_TRANSITION (WireCodeFor). Not stored: a
    // retry may succeed.
    {ErrorCode::kConflict, "CONFLICT", 409, false},
};

// Every enumerator of ErrorCode, found without naming them: the enum is dense from 0, and
// past its end ErrorCodeName falls back to "INTERNAL" for a value that is not kInternal.
std::vector<ErrorCode> AllErrorCodes() {
  std::vector<ErrorCode> out;
  for (int i = 0; i < 256; ++i) {
    const auto code = static_cast<ErrorCode>(i);
    if (code != ErrorCode::kInternal && ErrorCodeName(code) == "INTERNAL") break;
    out.push_back(code);
  }
  return out;
}

TEST(ErrorTableTest, EveryErrorCodeHasARow) {
  const std::vector<ErrorCode> all = AllErrorCodes();
  EXPECT_EQ(all.size(), std::size(kTable));
  for (ErrorCode code : all) {
    const bool found = std::any_of(std::begin(kTable), std::end(kTable),
                                   [code](const Row& r) { return r.code == code; });
    EXPECT_TRUE(found) << "no row for " << ErrorCodeName(code) << ": add it to kTable";
  }
}

TEST(ErrorTableTest, StatusNameAndReplayabilityOfEachCode) {
  for (const Row& row : kTable) {
    SCOPED_TRACE(row.name);
    EXPECT_EQ(ErrorCodeName(row.code), row.name);
    EXPECT_EQ(HttpStatusFor(row.code), row.status);
    EXPECT_EQ(IsReplayable(row.code), row.replayable);
    http::Response r = ErrorResponse(MakeError(row.code, "m"), "req_t");
    EXPECT_EQ(r.status, row.status);
    ASSERT_TRUE(r.error_code.has_value());
    EXPECT_EQ(*r.error_code, row.code);
    // The internal kConflict goes out under the SPEC code of what it lost to.
    const std::string_view wire =
        row.code == ErrorCode::kConflict ? "INVALID_STATE_TRANSITION" : row.name;
    EXPECT_EQ(json::value_to<std::string>(json::parse(r.body).at("error").at("code")), wire);
  }
}

// Only 401 says how to authenticate, only 503 when to come back.
TEST(ErrorTableTest, AuthenticateAndRetryAfterHeaders) {
  for (const Row& row : kTable) {
    SCOPED_TRACE(row.name);
    http::Response r = ErrorResponse(MakeError(row.code, "m"), "req_t");
    int www = 0;
    int retry = 0;
    for (const auto& [k, v] : r.headers) {
      if (k == "WWW-Authenticate") {
        ++www;
        EXPECT_EQ(v, "Bearer realm=\"overseer\"");
      }
      if (k == "Retry-After") ++retry;
    }
    EXPECT_EQ(www, row.code == ErrorCode::kUnauthenticated ? 1 : 0);
    EXPECT_EQ(retry, row.code == ErrorCode::kUnavailable ? 1 : 0);
  }
}

// INTERNAL never carries internals: a fixed message naming the request id, no details.
TEST(ErrorTableTest, InternalHidesMessageAndDetails) {
  Error e = MakeError(ErrorCode::kInternal, "sqlite: disk I/O error at /var/lib/x");
  e.With("path", "/var/lib/x");
  json::value v = json::parse(ErrorResponse(e, "req_9").body);
  EXPECT_EQ(v.at("error").at("message"), "internal error; request id req_9");
  EXPECT_TRUE(v.at("error").at("details").as_object().empty());
}

TEST(ErrorResponseTest, BodyIsTheSpecShapeWithTheMappedStatus) {
  Error e = MakeError(ErrorCode::kNotFound, "no such job");
  e.With("id", "j_1");
  http::Response r = ErrorResponse(e, "req_1");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.content_type, "application/json");
  json::value v = json::parse(r.body);
  EXPECT_EQ(v.at("error").at("code"), "NOT_FOUND");
  EXPECT_EQ(v.at("error").at("message"), "no such job");
  EXPECT_EQ(v.at("error").at("details").at("id"), "j_1");
}

// The last net: request bytes that reach an error unrepaired still give a UTF-8 body (Boost.JSON
// would write them through), every well-formed character kept.
TEST(ErrorResponseTest, IllFormedUtf8InMessageOrDetailsIsReplaced) {
  Error e = MakeError(ErrorCode::kInvalidRequest, "caf\xC3\xA9 \xFF: unknown field");
  e.With("field", std::string("x\xC0\xAF\xED\xA0\x80y"));
  e.With("limit", int64_t{64});
  http::Response r = ErrorResponse(e, "req_2");
  EXPECT_EQ(r.status, 400u);
  ASSERT_TRUE(IsValidUtf8(r.body)) << r.body;
  boost::system::error_code ec;
  json::value v = json::parse(r.body, ec);  // Boost.JSON refuses ill-formed UTF-8
  ASSERT_FALSE(ec) << r.body;
  EXPECT_EQ(v.at("error").at("message"), "caf\xC3\xA9 \xEF\xBF\xBD: unknown field");
  EXPECT_EQ(v.at("error").at("details").at("field"),
            "x\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDy");
  EXPECT_EQ(v.at("error").at("details").at("limit"), 64);
}

// kConflict (a lost compare-and-set no service resolved) goes out as the SPEC code a client
// knows: 409 INVALID_STATE_TRANSITION with the state now, no Retry-After (not 503: the
// database is fine, and a blind retry would meet the same state).
TEST(ErrorResponseTest, ConflictIsSentAs409InvalidStateTransition) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kConflict), 409u);
  EXPECT_EQ(WireCodeFor(ErrorCode::kConflict), "INVALID_STATE_TRANSITION");
  EXPECT_EQ(ErrorCodeName(ErrorCode::kConflict), "CONFLICT");  // logs only
  Error e = MakeError(ErrorCode::kConflict, "worker w_1 is COMPLETED");
  e.With("current_state", "COMPLETED").With("requested_state", "PAUSED");
  http::Response r = ErrorResponse(e, "req_3");
  EXPECT_EQ(r.status, 409u);
  json::value v = json::parse(r.body);
  EXPECT_EQ(v.at("error").at("code"), "INVALID_STATE_TRANSITION");
  EXPECT_EQ(v.at("error").at("message"), "worker w_1 is COMPLETED");
  EXPECT_EQ(v.at("error").at("details").at("current_state"), "COMPLETED");
  for (const auto& [name, value] : r.headers) EXPECT_NE(name, "Retry-After");
}

// Every other code is sent under its own SPEC name, with the status of SPEC §4.
TEST(ErrorResponseTest, WireCodeIsTheSpecNameForSpecCodes) {
  const std::pair<ErrorCode, unsigned> kSpec[] = {{ErrorCode::kInvalidRequest, 400},
                                                  {ErrorCode::kUnauthenticated, 401},
                                                  {ErrorCode::kInsufficientScope, 403},
                                                  {ErrorCode::kNotFound, 404},
                                                  {ErrorCode::kMethodNotAllowed, 405},
                                                  {ErrorCode::kInvalidStateTransition, 409},
                                                  {ErrorCode::kQuotaExceeded, 409},
                                                  {ErrorCode::kRequestInProgress, 409},
                                                  {ErrorCode::kHalted, 409},
                                                  {ErrorCode::kPayloadTooLarge, 413},
                                                  {ErrorCode::kUnsupportedMediaType, 415},
                                                  {ErrorCode::kMaxDepthExceeded, 422},
                                                  {ErrorCode::kIdempotencyKeyReused, 422},
                                                  {ErrorCode::kBudgetExceeded, 422},
                                                  {ErrorCode::kInternal, 500},
                                                  {ErrorCode::kUnavailable, 503}};
  for (const auto& [code, status] : kSpec) {
    SCOPED_TRACE(ErrorCodeName(code));
    EXPECT_EQ(WireCodeFor(code), ErrorCodeName(code));
    EXPECT_EQ(HttpStatusFor(code), status);
    EXPECT_EQ(json::parse(ErrorResponse(MakeError(code, "m"), "r").body)
                  .at("error")
                  .at("code")
                  .as_string(),
              ErrorCodeName(code));
  }
}

}  // namespace
}  // namespace overseer::api
