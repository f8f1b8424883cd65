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

// Header fields as a request's parser would hold them, in order (repeats kept).
boost::beast::http::fields Fields(std::initializer_list<std::pair<const char*, const char*>> kv) {
  boost::beast::http::fields f;
  for (const auto& [k, v] : kv) f.insert(k, v);
  return f;
}

TEST(CheckFramingTest, AcceptsPlainFraming) {
  EXPECT_TRUE(CheckFraming(Fields({}), 11).ok());
  EXPECT_TRUE(CheckFraming(Fields({{"Content-Length", "0"}}), 11).ok());
  EXPECT_TRUE(CheckFraming(Fields({{"Content-Length", "0042"}}), 10).ok());
  for (const char* te : {"chunked", "Chunked", "CHUNKED", " chunked\t"}) {
    EXPECT_TRUE(CheckFraming(Fields({{"Transfer-Encoding", te}}), 11).ok()) << te;
  }
}

TEST(CheckFramingTest, RefusesAnyOtherTransferEncoding) {
  for (const char* te : {"identity", "gzip", "gzip, chunked", "chunked, identity", "chunked,",
                         "xchunked", "chunked;q=1", "", "chunked chunked"}) {
    Status st = CheckFraming(Fields({{"Transfer-Encoding", te}}), 11);
    ASSERT_FALSE(st.ok()) << te;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidRequest) << te;
    EXPECT_NE(st.error().message.find("Transfer-Encoding"), std::string::npos) << te;
  }
  EXPECT_FALSE(
      CheckFraming(Fields({{"Transfer-Encoding", "chunked"}, {"Transfer-Encoding", "chunked"}}), 11)
          .ok());
  EXPECT_FALSE(CheckFraming(Fields({{"Transfer-Encoding", "chunked"}}), 10).ok());
  Status both =
      CheckFraming(Fields({{"Transfer-Encoding", "chunked"}, {"Content-Length", "3"}}), 11);
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("Content-Length"), std::string::npos);
}

TEST(CheckFramingTest, RefusesAnyContentLengthButOneNumber) {
  for (const char* cl : {"", "+1", "-1", "1.0", "0x1", "1 2", "1,1", "abc"}) {
    Status st = CheckFraming(Fields({{"Content-Length", cl}}), 11);
    ASSERT_FALSE(st.ok()) << cl;
    EXPECT_NE(st.error().message.find("Content-Length"), std::string::npos) << cl;
  }
  EXPECT_FALSE(CheckFraming(Fields({{"Content-Length", "1"}, {"Content-Length", "1"}}), 11).ok());
}

}  // namespace
}  // namespace overseer::http
