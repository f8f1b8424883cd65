#include "common/utf8.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace overseer {
namespace {

constexpr std::string_view kFffd = "\xEF\xBF\xBD";

TEST(Utf8Test, WellFormedIsValidAndUnchanged) {
  for (std::string_view s : {std::string_view(""), std::string_view("plain ascii"),
                             std::string_view("caf\xC3\xA9"),       // é
                             std::string_view("\xE2\x82\xAC"),      // €
                             std::string_view("\xED\x9F\xBF"),      // U+D7FF
                             std::string_view("\xEE\x80\x80"),      // U+E000
                             std::string_view("\xF0\x9F\x98\x80"),  // 😀
                             std::string_view("\xF4\x8F\xBF\xBF"),  // U+10FFFF
                             std::string_view("a\0b", 3)}) {
    EXPECT_TRUE(IsValidUtf8(s)) << s;
    EXPECT_EQ(ValidUtf8(s), s);
  }
}

TEST(Utf8Test, IllFormedSequencesAreRejected) {
  for (std::string_view s : {
           std::string_view("\xFF"),                      // never in UTF-8
           std::string_view("\xFE"),                      //
           std::string_view("\x80"),                      // lone continuation byte
           std::string_view("\xBF"),                      //
           std::string_view("\xC3"),                      // truncated 2-byte sequence
           std::string_view("\xE2\x82"),                  // truncated 3-byte sequence
           std::string_view("\xF0\x9F\x98"),              // truncated 4-byte sequence
           std::string_view("\xC0\xAF"),                  // overlong '/'
           std::string_view("\xC1\xBF"),                  // overlong
           std::string_view("\xE0\x80\xAF"),              // overlong '/' in 3 bytes
           std::string_view("\xE0\x9F\xBF"),              // overlong U+07FF
           std::string_view("\xF0\x80\x80\xAF"),          // overlong '/' in 4 bytes
           std::string_view("\xF0\x8F\xBF\xBF"),          // overlong U+FFFF
           std::string_view("\xED\xA0\x80"),              // surrogate U+D800
           std::string_view("\xED\xBF\xBF"),              // surrogate U+DFFF
           std::string_view("\xED\xA0\xBD\xED\xB8\x80"),  // CESU-8 pair
           std::string_view("\xF4\x90\x80\x80"),          // U+110000
           std::string_view("\xF5\x80\x80\x80"),          // lead byte above F4
           std::string_view("\xC3\x28"),                  // bad continuation
       }) {
    EXPECT_FALSE(IsValidUtf8(s)) << testing::PrintToString(std::string(s));
    const std::string fixed = ValidUtf8(s);
    EXPECT_TRUE(IsValidUtf8(fixed)) << testing::PrintToString(fixed);
    EXPECT_NE(fixed.find(kFffd), std::string::npos);
  }
}

// One U+FFFD per maximal subpart (Unicode §3.9, table 3-8).
TEST(Utf8Test, ReplacementFollowsMaximalSubparts) {
  EXPECT_EQ(ValidUtf8("j_\xFF"), "j_\xEF\xBF\xBD");
  EXPECT_EQ(ValidUtf8("\xC0\xAF"), std::string(kFffd) + std::string(kFffd));
  EXPECT_EQ(ValidUtf8("\xE2\x82("), std::string(kFffd) + "(");      // one for E2 82
  EXPECT_EQ(ValidUtf8("\xF0\x9F\x98z"), std::string(kFffd) + "z");  // one for F0 9F 98
  EXPECT_EQ(ValidUtf8("\xED\xA0\x80"),                              // ED, A0, 80: three
            std::string(kFffd) + std::string(kFffd) + std::string(kFffd));
  // Table 3-8's example: 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
  EXPECT_EQ(ValidUtf8("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + std::string(kFffd) + std::string(kFffd) + std::string(kFffd) + "b" +
                std::string(kFffd) + "c" + std::string(kFffd) + std::string(kFffd) + "d");
}

TEST(Utf8Test, TruncateNeverSplitsACharacter) {
  EXPECT_EQ(TruncateUtf8("abc", 64), "abc");
  EXPECT_EQ(TruncateUtf8("abcdef", 3), "abc");
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9", 2), "a");  // é would be split
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9", 3), "a\xC3\xA9");
  EXPECT_EQ(TruncateUtf8("\xF0\x9F\x98\x80", 3), "");
  EXPECT_EQ(TruncateUtf8("\xF0\x9F\x98\x80", 0), "");
  // 63 ASCII bytes then a 2-, 3- or 4-byte character: the cut at 64 drops it whole.
  for (std::string_view ch : {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80"}) {
    for (size_t pad = 60; pad <= 64; ++pad) {
      const std::string s = std::string(pad, 'x') + std::string(ch) + "tail";
      const std::string_view cut = TruncateUtf8(s, 64);
      EXPECT_LE(cut.size(), 64u);
      EXPECT_GE(cut.size(), 61u);
      EXPECT_TRUE(IsValidUtf8(cut)) << pad << " " << testing::PrintToString(std::string(cut));
    }
  }
}

TEST(Utf8Test, EchoTextIsValidAndBoundedForAnyBytes) {
  EXPECT_EQ(EchoText("status"), "status");
  EXPECT_EQ(EchoText("st\xFF"
                     "tus"),
            "st\xEF\xBF\xBDtus");
  EXPECT_EQ(EchoText(std::string(100, 'q')), std::string(64, 'q'));
  // 32 two-byte characters are 64 bytes; one more ASCII byte in front pushes the last out.
  std::string e;
  for (int i = 0; i < 40; ++i) e += "\xC3\xA9";
  EXPECT_EQ(EchoText(e).size(), 64u);
  EXPECT_EQ(EchoText("x" + e).size(), 63u);
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> len(0, 200);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 20000; ++round) {
    std::string s(static_cast<size_t>(len(rng)), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng) < 128 ? byte(rng) & 0x7f : byte(rng));
    const std::string out = EchoText(s);
    ASSERT_TRUE(IsValidUtf8(out)) << testing::PrintToString(s);
    ASSERT_LE(out.size(), kEchoMaxBytes);
    const std::string fixed = ValidUtf8(s);
    ASSERT_TRUE(IsValidUtf8(fixed)) << testing::PrintToString(s);
    // The echo is a prefix of the whole repaired text.
    ASSERT_EQ(fixed.compare(0, out.size(), out), 0) << testing::PrintToString(s);
  }
}

}  // namespace
}  // namespace overseer
