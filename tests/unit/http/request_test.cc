#include "http/request.h"

#include <gtest/gtest.h>

namespace overseer::http {
namespace {

TEST(DecodePathTest, DecodesEscapes) {
  Result<std::string> p = DecodePath("/api/files/a%20b%C3%A9+c");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(*p, "/api/files/a b\xC3\xA9+c");
}

TEST(DecodePathTest, PlainPathUnchanged) { EXPECT_EQ(*DecodePath("/api/jobs"), "/api/jobs"); }

TEST(DecodePathTest, RejectsMalformedEscapes) {
  for (const char* bad : {"/a%", "/a%2", "/a%zz", "/a%g1", "/a%%20"}) {
    Result<std::string> p = DecodePath(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(DecodePathTest, RejectsEncodedSlashAndNul) {
  for (const char* bad : {"/api/jobs/a%2Fb", "/api/jobs/a%2fb", "/a%00"}) {
    Result<std::string> p = DecodePath(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.error().code, ErrorCode::kInvalidRequest) << bad;
  }
}

TEST(ParseQueryTest, SplitsAndDecodesInOrder) {
  std::vector<std::pair<std::string, std::string>> q;
  ASSERT_TRUE(ParseQuery("limit=2&status=RUNNING&status=PAUSED&x=a+b%21&flag&&=v", q).ok());
  std::vector<std::pair<std::string, std::string>> want = {
      {"limit", "2"}, {"status", "RUNNING"}, {"status", "PAUSED"},
      {"x", "a b!"},  {"flag", ""},          {"", "v"}};
  EXPECT_EQ(q, want);

  Request req;
  req.query = q;
  EXPECT_EQ(req.Query("status"), "RUNNING");
  EXPECT_EQ(req.Query("flag"), "");
  EXPECT_EQ(req.Query("nope"), std::nullopt);
}

TEST(ParseQueryTest, RejectsMalformedEscape) {
  std::vector<std::pair<std::string, std::string>> q;
  Status st = ParseQuery("a=%zz", q);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest);
}

TEST(RequestIdTest, AcceptsPrintableUpTo128) {
  EXPECT_TRUE(IsValidRequestId("abc-123"));
  EXPECT_TRUE(IsValidRequestId(std::string(128, 'x')));
  EXPECT_FALSE(IsValidRequestId(""));
  EXPECT_FALSE(IsValidRequestId(std::string(129, 'x')));
  EXPECT_FALSE(IsValidRequestId("a\tb"));
  EXPECT_FALSE(IsValidRequestId("caf\xC3\xA9"));
}

TEST(ContentTypeTest, JsonWithParametersAnyCase) {
  EXPECT_TRUE(IsJsonContentType("application/json"));
  EXPECT_TRUE(IsJsonContentType("Application/JSON; charset=utf-8"));
  EXPECT_TRUE(IsJsonContentType("application/json ;charset=UTF-8"));
  EXPECT_FALSE(IsJsonContentType(""));
  EXPECT_FALSE(IsJsonContentType("text/plain"));
  EXPECT_FALSE(IsJsonContentType("application/jsonx"));
  EXPECT_FALSE(IsJsonContentType("application/json-patch+json"));
}

TEST(RequestTest, HeaderLookupIsCaseInsensitive) {
  Request req;
  req.headers.set("X-Request-ID", "r1");
  EXPECT_EQ(req.Header("x-request-id"), "r1");
  EXPECT_EQ(req.Header("Authorization"), "");
}

}  // namespace
}  // namespace overseer::http
