// Strict base64url: JWTs and page cursors.
#include "common/base64url.h"

#include <gtest/gtest.h>

#include <string>

namespace overseer {
namespace {

TEST(Base64UrlTest, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    const std::string enc = Base64UrlEncode(data);
    EXPECT_EQ(enc.find_first_of("+/="), std::string::npos);
    EXPECT_EQ(Base64UrlDecodeToString(enc), data);
    data.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64UrlTest, KnownVectors) {  // RFC 4648 §10, minus padding
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
}

TEST(Base64UrlTest, RejectsNonCanonicalInput) {
  for (const char* s :
       {"Zg==", "Zg=", "Z", "Zh", "Zm9", "Zm+v", "Zm/v", "Zm9v\n", "Zm 9v", "-_9"}) {
    SCOPED_TRACE(s);
    EXPECT_FALSE(Base64UrlDecodeToString(s).has_value());
  }
  EXPECT_TRUE(Base64UrlDecodeToString("Zm8").has_value());
  EXPECT_TRUE(Base64UrlDecodeToString("").has_value());
}

}  // namespace
}  // namespace overseer
