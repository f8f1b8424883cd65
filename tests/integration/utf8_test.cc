// Every response body is well-formed UTF-8 JSON (SPEC §3), whatever bytes the request held:
// request text echoed in an error (path ids, file names, query parameter names, JSON field
// names, the path of a 404/405) has ill-formed UTF-8 replaced and is cut between characters.
// A seeded fuzz sends paths, ids and query names with invalid bytes (percent-encoded and raw);
// OVERSEER_FUZZ_SEED=<n> replays a run, OVERSEER_FUZZ_ROUNDS=<n> makes it longer.
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "integration/fixture.h"

namespace overseer::it {
namespace {
namespace json = boost::json;

// Strict UTF-8 (Unicode §3.9 table 3-7), written here on its own so that the test does not
// trust the daemon's helper: no overlong form, no surrogate, nothing above U+10FFFF, no
// truncated sequence.
bool IsStrictUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    unsigned lo = 0x80;  // the range of the second byte (table 3-7)
    unsigned hi = 0xBF;
    if (b <= 0x7F) {
      n = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      n = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 3;
      if (b == 0xE0) lo = 0xA0;  // overlong below
      if (b == 0xED) hi = 0x9F;  // surrogates above
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 4;
      if (b == 0xF0) lo = 0x90;  // overlong below
      if (b == 0xF4) hi = 0x8F;  // beyond U+10FFFF above
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (c < (k == 1 ? lo : 0x80u) || c > (k == 1 ? hi : 0xBFu)) return false;
    }
    i += n;
  }
  return true;
}

TEST(StrictUtf8Test, TheTestsOwnValidator) {
  EXPECT_TRUE(IsStrictUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF"));
  for (std::string_view bad : {"\xFF", "\x80", "\xC3", "\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80",
                               "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80", "\xE2\x82", "a\xC3("}) {
    EXPECT_FALSE(IsStrictUtf8(bad)) << testing::PrintToString(std::string(bad));
  }
}

// Asserts `r` is an answer with a well-formed UTF-8 JSON body (an error body for >= 400).
::testing::AssertionResult IsUtf8Json(const Reply& r) {
  if (r.status == 0) return ::testing::AssertionFailure() << "no answer: " << r.body;
  if (r.status >= 500) return ::testing::AssertionFailure() << Describe(r);
  if (r.Header("Content-Type").rfind("application/json", 0) != 0) {
    return ::testing::AssertionFailure() << "content type " << r.Header("Content-Type");
  }
  if (!IsStrictUtf8(r.body)) {
    return ::testing::AssertionFailure()
           << "status " << r.status << ", body not UTF-8: " << testing::PrintToString(r.body);
  }
  if (r.json.is_null()) return ::testing::AssertionFailure() << "body not JSON: " << r.body;
  if (r.status >= 400 && !r.At({"error", "code"}).is_string()) {
    return ::testing::AssertionFailure() << "not an error body: " << r.body;
  }
  return ::testing::AssertionSuccess();
}

std::string Pct(std::string_view bytes) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[u >> 4];
    out += kHex[u & 15];
  }
  return out;
}

class Utf8Test : public SharedDaemonTest<Utf8Test> {};

TEST_F(Utf8Test, TheCasesOfTheReport) {
  Api anonymous(d().url(), "");
  for (const std::string& target :
       {std::string("/docs/%FF"), std::string("/docs/%C3"), std::string("/no/such/%FF%FE")}) {
    Reply r = anonymous.Get(target);
    EXPECT_TRUE(IsUtf8Json(r)) << target;
    EXPECT_EQ(r.status, 404u) << target;
  }
  Reply file = anonymous.Get("/docs/%FF");
  EXPECT_EQ(file.Str({"error", "details", "file"}), "\xEF\xBF\xBD") << file.body;

  Reply job = api().Get("/api/jobs/j_%FF");
  EXPECT_TRUE(IsError(job, 404, "NOT_FOUND"));
  EXPECT_TRUE(IsUtf8Json(job));
  EXPECT_EQ(job.Str({"error", "details", "id"}), "j_\xEF\xBF\xBD") << job.body;

  Reply query = api().Get("/api/jobs?%FF=1");
  EXPECT_TRUE(IsError(query, 400, "INVALID_REQUEST"));
  EXPECT_TRUE(IsUtf8Json(query));
  EXPECT_EQ(query.Str({"error", "details", "field"}), "\xEF\xBF\xBD") << query.body;

  Reply method = api().Send("DELETE", "/api/jobs/j_%C0%AF");
  EXPECT_TRUE(IsError(method, 405, "METHOD_NOT_ALLOWED"));
  EXPECT_TRUE(IsUtf8Json(method));
}

// Names of more than 64 bytes are cut at 64 bytes or less, never inside a character.
TEST_F(Utf8Test, EchoedNamesAreCutBetweenCharacters) {
  std::string e_acute, euro;
  for (int i = 0; i < 40; ++i) e_acute += "\xC3\xA9";   // 80 bytes
  for (int i = 0; i < 30; ++i) euro += "\xE2\x82\xAC";  // 90 bytes
  // The cut at 64 falls on every offset inside a 2- and a 3-byte character.
  for (const std::string& name : {e_acute, "x" + e_acute, euro, "x" + euro, "xy" + euro}) {
    Reply q = api().Get("/api/jobs?" + Pct(name) + "=1");
    ASSERT_TRUE(IsUtf8Json(q));
    const std::string field = q.Str({"error", "details", "field"});
    EXPECT_LE(field.size(), 64u);
    EXPECT_GE(field.size(), 62u);
    EXPECT_EQ(name.compare(0, field.size(), field), 0) << field;  // a prefix of the name

    json::object body{
        {"task", json::object{{"runtime", "command"}, {"command", json::array{"true"}}}},
        {name, 1}};
    Reply b = api().Post("/api/jobs", body);
    ASSERT_TRUE(IsUtf8Json(b));
    EXPECT_TRUE(IsError(b, 400, "INVALID_REQUEST"));
    EXPECT_EQ(b.Str({"error", "details", "field"}), field) << b.body;
  }
  // 4-byte characters at every offset of the cut.
  for (int pad = 0; pad < 4; ++pad) {
    std::string name(static_cast<size_t>(pad), 'p');
    for (int i = 0; i < 20; ++i) name += "\xF0\x9F\x98\x80";
    Reply q = api().Get("/api/supervisor/workers?" + Pct(name) + "=1");
    ASSERT_TRUE(IsUtf8Json(q)) << pad;
    const std::string field = q.Str({"error", "details", "field"});
    EXPECT_LE(field.size(), 64u);
    EXPECT_GT(field.size(), 60u);
  }
}

// A job named after its program: the default name is cut at 128 bytes between characters.
TEST_F(Utf8Test, ADefaultJobNameIsCutBetweenCharacters) {
  std::string prog = "/nonexistent/x";
  for (int i = 0; i < 100; ++i) prog += "\xE2\x82\xAC";  // 1 + 300 bytes of base name
  Reply r = api().Post(
      "/api/jobs",
      json::object{{"task", json::object{{"runtime", "command"}, {"command", json::array{prog}}}}});
  ASSERT_TRUE(IsUtf8Json(r));
  ASSERT_EQ(r.status, 201u) << Describe(r);
  const std::string name = r.Str({"name"});
  EXPECT_EQ(name.size(), 127u) << name;  // "x" and 42 whole euro signs
  Reply list = api().Get("/api/jobs");
  EXPECT_TRUE(IsUtf8Json(list));
}

// Random paths, ids and query names with invalid bytes against every kind of route.
TEST_F(Utf8Test, FuzzedPathsIdsAndQueryNamesAlwaysAnswerUtf8Json) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("OVERSEER_FUZZ_SEED")) seed = std::strtoull(s, nullptr, 10);
  int rounds = 400;
  if (const char* s = std::getenv("OVERSEER_FUZZ_ROUNDS")) rounds = std::atoi(s);
  std::cout << "utf8 fuzz: seed " << seed << " (OVERSEER_FUZZ_SEED), " << rounds << " rounds\n";
  std::mt19937_64 rng(seed);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };

  // Byte sequences that are not UTF-8, and some that are (multi-byte, for the cut).
  const std::vector<std::string> pieces = {"\xFF",
                                           "\xFE",
                                           "\x80",
                                           "\xBF",
                                           "\xC0\xAF",
                                           "\xC1\xBF",
                                           "\xC3",
                                           "\xE2\x82",
                                           "\xF0\x9F\x98",
                                           "\xE0\x80\xAF",
                                           "\xED\xA0\x80",
                                           "\xED\xBF\xBF",
                                           "\xF4\x90\x80\x80",
                                           "\xF5\x80\x80\x80",
                                           "\xF8\x88\x80\x80\x80",
                                           "\xC3\xA9",
                                           "\xE2\x82\xAC",
                                           "\xF0\x9F\x98\x80",
                                           "a",
                                           "_",
                                           "0",
                                           "j_",
                                           "w_",
                                           "-",
                                           "."};
  auto noise = [&] {
    std::string s;
    const size_t n = 1 + pick(pick(4) == 0 ? 60 : 8);
    for (size_t i = 0; i < n; ++i) s += pieces[pick(pieces.size())];
    return s;
  };
  // Raw bytes in the target where HTTP allows them (obs-text); the rest percent-encoded.
  auto encode = [&](const std::string& s) {
    if (pick(3) != 0) return Pct(s);
    std::string out;
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      out += u >= 0x80 ? std::string(1, c) : Pct(std::string(1, c));
    }
    return out;
  };
  const std::vector<std::string> templates = {"/api/jobs/j_@",
                                              "/api/jobs/@",
                                              "/api/jobs/@/tree",
                                              "/api/jobs/j_@/wait",
                                              "/api/jobs/j_@/cancel",
                                              "/api/supervisor/workers/w_@",
                                              "/api/supervisor/workers/@/logs",
                                              "/api/supervisor/workers/w_@/pause",
                                              "/docs/@",
                                              "/@",
                                              "/api/@",
                                              "/api/jobs?@=1",
                                              "/api/supervisor/workers?@=x",
                                              "/api/resources/usage?@",
                                              "/api/supervisor/metrics?a=1&@=2",
                                              "/api/jobs/j_@?@=1",
                                              "/healthz/@"};
  const std::vector<std::string> methods = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
  Api anonymous(d().url(), "");
  for (int i = 0; i < rounds; ++i) {
    std::string target = templates[pick(templates.size())];
    for (size_t at = target.find('@'); at != std::string::npos; at = target.find('@')) {
      target.replace(at, 1, encode(noise()));
    }
    const std::string method = methods[pick(methods.size())];
    Api& client = pick(8) == 0 ? anonymous : api();
    Reply r = client.Send(method, target);
    ASSERT_TRUE(IsUtf8Json(r)) << "seed " << seed << " round " << i << ": " << method << " "
                               << testing::PrintToString(target);
  }
}

}  // namespace
}  // namespace overseer::it
