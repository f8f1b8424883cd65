#include "api/error_mapping.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "common/utf8.h"

namespace overseer::api {
namespace {
namespace json = boost::json;

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
  const std::pair<ErrorCode, unsigned> kSpec[] = {
      {ErrorCode::kInvalidRequest, 400},    {ErrorCode::kUnauthenticated, 401},
      {ErrorCode::kInsufficientScope, 403}, {ErrorCode::kNotFound, 404},
      {ErrorCode::kMethodNotAllowed, 405},  {ErrorCode::kInvalidStateTransition, 409},
      {ErrorCode::kQuotaExceeded, 409},     {ErrorCode::kRequestInProgress, 409},
      {ErrorCode::kPayloadTooLarge, 413},   {ErrorCode::kUnsupportedMediaType, 415},
      {ErrorCode::kMaxDepthExceeded, 422},  {ErrorCode::kIdempotencyKeyReused, 422},
      {ErrorCode::kInternal, 500},          {ErrorCode::kUnavailable, 503}};
  for (const auto& [code, status] : kSpec) {
    SCOPED_TRACE(ErrorCodeName(code));
    EXPECT_EQ(WireCodeFor(code), ErrorCodeName(code));
    EXPECT_EQ(HttpStatusFor(code), status);
    EXPECT_EQ(json::parse(ErrorResponse(MakeError(code, "m"), "r").body).at("error").at("code"),
              ErrorCodeName(code));
  }
}

}  // namespace
}  // namespace overseer::api
