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

}  // namespace
}  // namespace overseer::api
