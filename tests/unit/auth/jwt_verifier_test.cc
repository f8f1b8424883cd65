// JwtVerifier: happy paths for HS256/RS256/ES256 and one test per attack (RFC 8725 et al.).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwt.h"
#include "test_keys.h"

namespace overseer::auth {
namespace {

using testing::B64;
using testing::DerToRaw;
using testing::EcP256;
using testing::HmacSha256;
using testing::MakeHsToken;
using testing::MakePkToken;
using testing::OtherEcP256;
using testing::OtherRsa2048;
using testing::Rsa2048;
using testing::SigningInput;
using testing::SignWithPem;

constexpr TimeMs kNow = 1'800'000'000'000;  // 2027-01-15
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret";
constexpr char kHsHeader[] = R"({"alg":"HS256","typ":"JWT"})";
constexpr char kRsHeader[] = R"({"alg":"RS256","typ":"JWT"})";
constexpr char kEsHeader[] = R"({"alg":"ES256","typ":"JWT"})";
// exp = kNow + 1 h.
constexpr char kPayload[] =
    R"({"sub":"alice","workspace_id":"ws-1","scopes":["jobs:read","jobs:write"],"exp":1800003600})";

std::unique_ptr<JwtVerifier> HsVerifier() {
  auto v = JwtVerifier::ForHmacSecret(kSecret);
  EXPECT_TRUE(v.ok());
  return std::move(*v);
}

std::unique_ptr<JwtVerifier> PemVerifier(const std::string& pem) {
  auto v = JwtVerifier::ForPublicKeyPem(pem);
  EXPECT_TRUE(v.ok()) << (v.ok() ? "" : v.error().message);
  return std::move(*v);
}

std::string HsToken(std::string_view header, std::string_view payload) {
  return MakeHsToken(kSecret, header, payload);
}

// Verifies with the HS256 verifier at kNow and expects a 401 whose message contains `what`.
void ExpectRejected(const JwtVerifier& v, const std::string& token, std::string_view what,
                    TimeMs now = kNow) {
  Result<Principal> p = v.Verify(token, now);
  ASSERT_FALSE(p.ok()) << "accepted: " << token;
  EXPECT_EQ(p.error().code, ErrorCode::kUnauthenticated);
  EXPECT_NE(p.error().message.find(what), std::string::npos) << p.error().message;
  if (!token.empty()) {
    EXPECT_EQ(p.error().message.find(token), std::string::npos);
  }
}

void ExpectHsRejected(const std::string& token, std::string_view what, TimeMs now = kNow) {
  ExpectRejected(*HsVerifier(), token, what, now);
}

// ------------------------------------------------------------------------- happy paths

TEST(JwtVerifierTest, Hs256ValidTokenYieldsPrincipal) {
  auto v = HsVerifier();
  EXPECT_EQ(v->algorithm(), Algorithm::kHS256);
  Result<Principal> p = v->Verify(HsToken(kHsHeader, kPayload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->subject, "alice");
  EXPECT_EQ(p->workspace_id, "ws-1");
  EXPECT_EQ(p->scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
  EXPECT_EQ(p->job_id, "");
  EXPECT_EQ(p->expires_at, 1'800'003'600'000);
  EXPECT_TRUE(p->HasScope(kJobsRead));
  EXPECT_TRUE(p->HasScope(kJobsWrite));
  EXPECT_FALSE(p->HasScope(kResourcesAdmin));
}

TEST(JwtVerifierTest, Rs256ValidTokenYieldsPrincipal) {
  auto v = PemVerifier(Rsa2048().public_pem);
  EXPECT_EQ(v->algorithm(), Algorithm::kRS256);
  Result<Principal> p =
      v->Verify(MakePkToken(Rsa2048().private_pem, false, kRsHeader, kPayload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->subject, "alice");
  EXPECT_EQ(p->workspace_id, "ws-1");
}

TEST(JwtVerifierTest, Es256ValidTokenYieldsPrincipal) {
  auto v = PemVerifier(EcP256().public_pem);
  EXPECT_EQ(v->algorithm(), Algorithm::kES256);
  Result<Principal> p =
      v->Verify(MakePkToken(EcP256().private_pem, true, kEsHeader, kPayload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->subject, "alice");
}

TEST(JwtVerifierTest, ScopeStringJobIdAndOptionalTimesAccepted) {
  const std::string payload =
      R"({"sub":"worker","workspace_id":"ws_2.b","scope":"jobs:read  jobs:write ","job_id":"j_0123abc",)"
      R"("iat":1799999990,"nbf":1799999990.5,"exp":1800000100.25})";
  Result<Principal> p = HsVerifier()->Verify(HsToken(kHsHeader, payload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
  EXPECT_EQ(p->job_id, "j_0123abc");
  EXPECT_EQ(p->expires_at, 1'800'000'100'250);
}

TEST(JwtVerifierTest, ScopesArrayAndScopeStringAreMerged) {
  const std::string payload =
      R"({"sub":"a","workspace_id":"w","scopes":["jobs:read"],"scope":"resources:read","exp":1800003600})";
  Result<Principal> p = HsVerifier()->Verify(HsToken(kHsHeader, payload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->HasScope(kJobsRead));
  EXPECT_TRUE(p->HasScope(kResourcesRead));
}

TEST(JwtVerifierTest, NoScopesMeansEmptyScopeList) {
  const std::string payload = R"({"sub":"a","workspace_id":"w","exp":1800003600})";
  Result<Principal> p = HsVerifier()->Verify(HsToken(kHsHeader, payload), kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_TRUE(p->scopes.empty());
}

// RFC 7515 Appendix A.1: the HS256 example. Its signature must verify; the token then
// fails only on our required claims (it has no sub), which proves the MAC passed.
TEST(JwtVerifierTest, Rfc7515AppendixA1SignatureVerifies) {
  const std::optional<std::string> key = Base64UrlDecodeToString(
      "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
  ASSERT_TRUE(key.has_value());
  auto v = JwtVerifier::ForHmacSecret(*key);
  ASSERT_TRUE(v.ok());
  const std::string signing_input =
      "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVl"
      "fQ";
  const std::string good = signing_input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const std::string bad = signing_input + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXg";
  const TimeMs at = 1'300'819'380'000;
  ExpectRejected(**v, good, "sub", at);
  ExpectRejected(**v, bad, "signature", at);
}

// -------------------------------------------------------------------------- algorithm

TEST(JwtVerifierTest, AlgNoneRejectedInEveryCase) {
  for (const char* alg : {"none", "None", "NONE", "nOnE"}) {
    SCOPED_TRACE(alg);
    const std::string header = std::string(R"({"alg":")") + alg + R"(","typ":"JWT"})";
    // Unsigned, as the attack sends it, and with an empty signature part.
    ExpectHsRejected(SigningInput(header, kPayload) + ".", "empty part");
    // Even carrying a valid HMAC, "none" is not the configured algorithm.
    ExpectHsRejected(HsToken(header, kPayload), "algorithm");
  }
}

TEST(JwtVerifierTest, OtherHmacAlgorithmsRejected) {
  for (const char* alg : {"HS384", "HS512", "hs256", "HS256 ", ""}) {
    SCOPED_TRACE(alg);
    const std::string header = std::string(R"({"alg":")") + alg + R"("})";
    ExpectHsRejected(HsToken(header, kPayload), "algorithm");  // valid HS256 MAC underneath
  }
}

TEST(JwtVerifierTest, MissingOrNonStringAlgRejected) {
  ExpectHsRejected(HsToken(R"({"typ":"JWT"})", kPayload), "alg");
  ExpectHsRejected(HsToken(R"({"alg":["HS256"]})", kPayload), "alg");
  ExpectHsRejected(HsToken(R"({"alg":null})", kPayload), "alg");
}

// RFC 8725 §2.1: an HS256 token whose HMAC key is the server's RSA public key.
TEST(JwtVerifierTest, Hs256SignedWithRsaPublicKeyRejectedByRsaVerifier) {
  auto v = PemVerifier(Rsa2048().public_pem);
  const std::string token = MakeHsToken(Rsa2048().public_pem, kHsHeader, kPayload);
  ExpectRejected(*v, token, "algorithm");
}

TEST(JwtVerifierTest, Hs256SignedWithEcPublicKeyRejectedByEcVerifier) {
  auto v = PemVerifier(EcP256().public_pem);
  ExpectRejected(*v, MakeHsToken(EcP256().public_pem, kHsHeader, kPayload), "algorithm");
}

TEST(JwtVerifierTest, Rs384HeaderRejectedEvenWithValidRs256Signature) {
  auto v = PemVerifier(Rsa2048().public_pem);
  for (const char* alg : {"RS384", "RS512", "PS256", "rs256"}) {
    SCOPED_TRACE(alg);
    const std::string header = std::string(R"({"alg":")") + alg + R"("})";
    ExpectRejected(*v, MakePkToken(Rsa2048().private_pem, false, header, kPayload), "algorithm");
  }
}

TEST(JwtVerifierTest, Es256TokenRejectedByRsaVerifierAndViceVersa) {
  ExpectRejected(*PemVerifier(Rsa2048().public_pem),
                 MakePkToken(EcP256().private_pem, true, kEsHeader, kPayload), "algorithm");
  ExpectRejected(*PemVerifier(EcP256().public_pem),
                 MakePkToken(Rsa2048().private_pem, false, kRsHeader, kPayload), "algorithm");
}

TEST(JwtVerifierTest, CritHeaderRejected) {
  ExpectHsRejected(HsToken(R"({"alg":"HS256","crit":["exp"],"exp":1})", kPayload), "crit");
  ExpectHsRejected(HsToken(R"({"alg":"HS256","crit":[]})", kPayload), "crit");
  ExpectHsRejected(HsToken(R"({"alg":"HS256","b64":false,"crit":["b64"]})", kPayload), "crit");
}

// kid/jku/x5u/jwk never select a key nor cause a fetch: the URLs point at a listening
// socket of ours, which must see no connection.
TEST(JwtVerifierTest, KeyLocatingHeadersIgnoredAndNeverFetched) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/k";
  const std::string header = R"({"alg":"HS256","kid":"../../etc/passwd","jku":")" + url +
                             R"(","x5u":")" + url + R"(","jwk":{"kty":"oct","k":"AAAA"}})";

  Result<Principal> p = HsVerifier()->Verify(HsToken(header, kPayload), kNow);
  EXPECT_TRUE(p.ok()) << p.error().message;
  // Signed with another secret: the header cannot point at a key that makes it pass.
  ExpectHsRejected(MakeHsToken("another-secret-that-is-32-bytes-long!!", header, kPayload),
                   "signature");

  EXPECT_EQ(accept(fd, nullptr, nullptr), -1);
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  close(fd);
}

// RFC 8725 §3.5 family: a token carrying the attacker's own public key in "jwk".
TEST(JwtVerifierTest, EmbeddedJwkOfAttackerKeyDoesNotMakeSignatureValid) {
  auto v = PemVerifier(EcP256().public_pem);
  const std::string header =
      R"({"alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}})";
  ExpectRejected(*v, MakePkToken(OtherEcP256().private_pem, true, header, kPayload), "signature");
}

// ------------------------------------------------------------------------- structure

TEST(JwtVerifierTest, WrongSegmentCountRejected) {
  const std::string good = HsToken(kHsHeader, kPayload);
  const std::string two = good.substr(0, good.rfind('.'));
  ExpectHsRejected(two, "three");
  ExpectHsRejected(good + ".", "three");
  ExpectHsRejected(good + ".AAAA", "three");
  ExpectHsRejected("", "three");
  ExpectHsRejected("abc", "three");
  ExpectHsRejected("..", "empty part");
  ExpectHsRejected("...", "three");
}

TEST(JwtVerifierTest, EmptySegmentRejected) {
  const std::string good = HsToken(kHsHeader, kPayload);
  const size_t dot1 = good.find('.');
  const size_t dot2 = good.rfind('.');
  ExpectHsRejected(good.substr(0, dot1) + ".." + good.substr(dot2 + 1), "empty part");
  ExpectHsRejected(good.substr(dot1), "empty part");
}

TEST(JwtVerifierTest, OversizedTokenRejectedBeforeParsing) {
  // Find the largest valid token within 8 KiB and the smallest beyond it.
  std::string last_fit;
  std::string first_over;
  for (size_t pad = 5900; pad < 6300 && first_over.empty(); ++pad) {
    const std::string payload = R"({"sub":"alice","workspace_id":"ws-1","exp":1800003600,"pad":")" +
                                std::string(pad, 'x') + R"("})";
    std::string t = HsToken(kHsHeader, payload);
    if (t.size() <= kMaxTokenBytes) {
      last_fit = std::move(t);
    } else {
      first_over = std::move(t);
    }
  }
  ASSERT_FALSE(last_fit.empty());
  ASSERT_FALSE(first_over.empty());
  EXPECT_GE(last_fit.size(), kMaxTokenBytes - 1);
  EXPECT_TRUE(HsVerifier()->Verify(last_fit, kNow).ok());
  ExpectHsRejected(first_over, "too large");
  // Garbage of that size is refused as too large, not as malformed: size is checked first.
  ExpectHsRejected(std::string(kMaxTokenBytes + 1, '.'), "too large");
}

TEST(JwtVerifierTest, PaddedBase64Rejected) {
  // Padding in the header part, with a signature valid over exactly those bytes.
  const std::string header_b64 = B64(R"({"alg":"HS256"})");    // 15 bytes -> 20 chars, no '='
  const std::string header2_b64 = B64(R"({"alg":"HS256" })");  // 16 bytes -> needs "=="
  ASSERT_EQ(header2_b64.size() % 4, 2u);
  for (const std::string& h : {header2_b64 + "==", header2_b64 + "="}) {
    const std::string input = h + "." + B64(kPayload);
    ExpectHsRejected(input + "." + B64(HmacSha256(kSecret, input)),
                     "header is not valid base64url");
  }
  // Padding on the signature (32 bytes -> 43 chars + "=").
  const std::string input = header_b64 + "." + B64(kPayload);
  const std::string sig = B64(HmacSha256(kSecret, input));
  ASSERT_TRUE(HsVerifier()->Verify(input + "." + sig, kNow).ok());
  ExpectHsRejected(input + "." + sig + "=", "signature is not valid base64url");
}

TEST(JwtVerifierTest, NonUrlSafeOrInvalidCharactersRejected) {
  const std::string input = SigningInput(kHsHeader, kPayload);
  // Standard-alphabet characters in place of their url-safe twins.
  for (const char std_char : {'+', '/'}) {
    std::string sig = B64(HmacSha256(kSecret, input));
    sig[0] = std_char;
    ExpectHsRejected(std::string(input).append(".").append(sig),
                     "signature is not valid base64url");
  }
  for (const char* bad : {" ", "\n", "*", "%", "\xc3\xa9"}) {
    SCOPED_TRACE(bad);
    std::string s = B64(HmacSha256(kSecret, input));
    s.insert(4, bad);
    ExpectHsRejected(std::string(input).append(".").append(s), "not valid base64url");
  }
  // In the payload, with a MAC over the bad text.
  const std::string bad_payload_input = B64(kHsHeader) + "." + B64(kPayload) + "+";
  ExpectHsRejected(bad_payload_input + "." + B64(HmacSha256(kSecret, bad_payload_input)),
                   "payload is not valid base64url");
}

TEST(JwtVerifierTest, NonCanonicalBase64TrailingBitsRejected) {
  const std::string input = SigningInput(kHsHeader, kPayload);
  std::string sig = B64(HmacSha256(kSecret, input));  // 43 chars: last char carries 2 spare bits
  ASSERT_EQ(sig.size(), 43u);
  // Flip a spare (ignored-by-lenient-decoders) low bit of the last char.
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const size_t v = alphabet.find(sig.back());
  sig.back() = alphabet[v ^ 1];
  ExpectHsRejected(input + "." + sig, "signature is not valid base64url");
}

TEST(JwtVerifierTest, HeaderOrPayloadNotJsonObjectRejected) {
  ExpectHsRejected(HsToken("[\"HS256\"]", kPayload), "header is not a JSON object");
  ExpectHsRejected(HsToken("\"HS256\"", kPayload), "header is not a JSON object");
  ExpectHsRejected(HsToken(R"({"alg":"HS256")", kPayload), "header is not a JSON object");
  ExpectHsRejected(HsToken(R"({"alg":"HS256"} x)", kPayload), "header is not a JSON object");
  ExpectHsRejected(HsToken(kHsHeader, "[1,2]"), "payload is not a JSON object");
  ExpectHsRejected(HsToken(kHsHeader, "null"), "payload is not a JSON object");
  ExpectHsRejected(HsToken(kHsHeader, "{\"sub\":\"a\",}"), "payload is not a JSON object");
  ExpectHsRejected(HsToken(kHsHeader, "{\"sub\":\"\xff\"}"), "payload is not a JSON object");
}

// ------------------------------------------------------------------------- signatures

TEST(JwtVerifierTest, Hs256WrongSecretRejected) {
  ExpectHsRejected(MakeHsToken("a-different-secret-of-at-least-32-bytes", kHsHeader, kPayload),
                   "invalid token signature");
}

TEST(JwtVerifierTest, Hs256FlippedBitRejected) {
  const std::string input = SigningInput(kHsHeader, kPayload);
  std::string mac = HmacSha256(kSecret, input);
  mac[31] = static_cast<char>(mac[31] ^ 0x01);
  ExpectHsRejected(input + "." + B64(mac), "invalid token signature");
}

TEST(JwtVerifierTest, Hs256TruncatedOrExtendedMacRejected) {
  const std::string input = SigningInput(kHsHeader, kPayload);
  const std::string mac = HmacSha256(kSecret, input);
  ExpectHsRejected(input + "." + B64(mac.substr(0, 31)), "invalid token signature");
  ExpectHsRejected(input + "." + B64(mac.substr(0, 16)), "invalid token signature");
  ExpectHsRejected(input + "." + B64(mac + '\0'), "invalid token signature");
}

TEST(JwtVerifierTest, TamperedPayloadRejected) {
  const std::string good = HsToken(kHsHeader, kPayload);
  const std::string forged_payload =
      R"({"sub":"alice","workspace_id":"ws-1","scopes":["resources:admin"],"exp":1800003600})";
  const std::string forged =
      B64(kHsHeader) + "." + B64(forged_payload) + good.substr(good.rfind('.'));
  ExpectHsRejected(forged, "invalid token signature");
}

TEST(JwtVerifierTest, Rs256WrongKeyRejected) {
  ExpectRejected(*PemVerifier(Rsa2048().public_pem),
                 MakePkToken(OtherRsa2048().private_pem, false, kRsHeader, kPayload),
                 "invalid token signature");
}

TEST(JwtVerifierTest, Rs256SignatureLengthMustEqualModulusSize) {
  auto v = PemVerifier(Rsa2048().public_pem);
  const std::string input = SigningInput(kRsHeader, kPayload);
  const std::string sig = SignWithPem(Rsa2048().private_pem, input);
  ASSERT_EQ(sig.size(), 256u);
  ASSERT_TRUE(v->Verify(input + "." + B64(sig), kNow).ok());
  ExpectRejected(*v, input + "." + B64(std::string(1, '\0') + sig), "invalid token signature");
  ExpectRejected(*v, input + "." + B64(sig.substr(1)), "invalid token signature");
  ExpectRejected(*v, input + "." + B64(sig.substr(0, 128)), "invalid token signature");
}

TEST(JwtVerifierTest, Es256DerSignatureRejected) {
  auto v = PemVerifier(EcP256().public_pem);
  const std::string input = SigningInput(kEsHeader, kPayload);
  const std::string der = SignWithPem(EcP256().private_pem, input);
  ASSERT_NE(der.size(), 64u);  // DER is 70-72 bytes
  ASSERT_TRUE(v->Verify(input + "." + B64(DerToRaw(der)), kNow).ok());
  ExpectRejected(*v, input + "." + B64(der), "invalid token signature");
}

TEST(JwtVerifierTest, Es256SignatureOfWrongLengthRejected) {
  auto v = PemVerifier(EcP256().public_pem);
  const std::string input = SigningInput(kEsHeader, kPayload);
  const std::string raw = DerToRaw(SignWithPem(EcP256().private_pem, input));
  ExpectRejected(*v, input + "." + B64(raw.substr(0, 63)), "invalid token signature");
  ExpectRejected(*v, input + "." + B64(raw + '\0'), "invalid token signature");
  ExpectRejected(*v, input + "." + B64(std::string(1, '\0') + raw), "invalid token signature");
}

TEST(JwtVerifierTest, Es256ZeroOrWrongKeySignatureRejected) {
  auto v = PemVerifier(EcP256().public_pem);
  const std::string input = SigningInput(kEsHeader, kPayload);
  ExpectRejected(*v, input + "." + B64(std::string(64, '\0')), "invalid token signature");
  ExpectRejected(*v, input + "." + B64(std::string(64, '\xff')), "invalid token signature");
  ExpectRejected(*v, MakePkToken(OtherEcP256().private_pem, true, kEsHeader, kPayload),
                 "invalid token signature");
}

// ----------------------------------------------------------------------------- claims

TEST(JwtVerifierTest, MissingSubRejected) {
  ExpectHsRejected(HsToken(kHsHeader, R"({"workspace_id":"w","exp":1800003600})"), "sub");
}

TEST(JwtVerifierTest, EmptyOrNonStringSubRejected) {
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"","workspace_id":"w","exp":1800003600})"), "sub");
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":42,"workspace_id":"w","exp":1800003600})"), "sub");
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":null,"workspace_id":"w","exp":1800003600})"),
                   "sub");
}

TEST(JwtVerifierTest, MissingWorkspaceIdRejected) {
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","exp":1800003600})"), "workspace_id");
}

TEST(JwtVerifierTest, MalformedWorkspaceIdRejected) {
  for (const std::string& ws : {std::string(""), std::string("ws/1"), std::string("ws 1"),
                                std::string("ws\\u00e9"), std::string(65, 'w')}) {
    SCOPED_TRACE(ws);
    ExpectHsRejected(
        HsToken(kHsHeader, R"({"sub":"a","workspace_id":")" + ws + R"(","exp":1800003600})"),
        "workspace_id");
  }
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":7,"exp":1800003600})"),
                   "workspace_id");
  // 64 chars is the limit and passes.
  EXPECT_TRUE(HsVerifier()
                  ->Verify(HsToken(kHsHeader, R"({"sub":"a","workspace_id":")" +
                                                  std::string(64, 'w') + R"(","exp":1800003600})"),
                           kNow)
                  .ok());
}

TEST(JwtVerifierTest, MissingExpRejected) {
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w"})"), "exp");
}

TEST(JwtVerifierTest, NonNumericTimeClaimsRejected) {
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":"1800003600"})"),
                   "exp");
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":true})"), "exp");
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":null})"), "exp");
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":18446744073709551615})"), "exp");
  ExpectHsRejected(HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":1e300})"), "exp");
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":1800003600,"nbf":"0"})"), "nbf");
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","exp":1800003600,"iat":[1]})"), "iat");
}

TEST(JwtVerifierTest, ExpiredBeyondLeewayRejected) {
  const std::string token = HsToken(kHsHeader, kPayload);  // exp = 1800003600 s
  const TimeMs exp_ms = 1'800'003'600'000;
  EXPECT_TRUE(HsVerifier()->Verify(token, exp_ms).ok());
  EXPECT_TRUE(HsVerifier()->Verify(token, exp_ms + kClockLeewayMs).ok());  // within leeway
  ExpectHsRejected(token, "expired", exp_ms + kClockLeewayMs + 1);
  ExpectHsRejected(token, "expired", exp_ms + 3'600'000);
}

TEST(JwtVerifierTest, NotYetValidBeyondLeewayRejected) {
  const std::string token =
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","nbf":1800000060,"exp":1800003600})");
  const TimeMs nbf_ms = 1'800'000'060'000;
  EXPECT_TRUE(HsVerifier()->Verify(token, nbf_ms - kClockLeewayMs).ok());  // within leeway
  ExpectHsRejected(token, "not yet valid", nbf_ms - kClockLeewayMs - 1);
}

TEST(JwtVerifierTest, ScopesNotArrayOfStringsRejected) {
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","scopes":"jobs:read","exp":1800003600})"),
      "scopes");
  ExpectHsRejected(
      HsToken(kHsHeader,
              R"({"sub":"a","workspace_id":"w","scopes":["jobs:read",1],"exp":1800003600})"),
      "scopes");
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","scopes":{"a":1},"exp":1800003600})"),
      "scopes");
}

TEST(JwtVerifierTest, ScopeNotStringRejected) {
  ExpectHsRejected(
      HsToken(kHsHeader,
              R"({"sub":"a","workspace_id":"w","scope":["jobs:read"],"exp":1800003600})"),
      "scope");
}

TEST(JwtVerifierTest, MalformedJobIdRejected) {
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","job_id":12,"exp":1800003600})"),
      "job_id");
  ExpectHsRejected(
      HsToken(kHsHeader, R"({"sub":"a","workspace_id":"w","job_id":"","exp":1800003600})"),
      "job_id");
}

// ------------------------------------------------------------------------ construction

TEST(JwtVerifierTest, ShortHmacSecretRefused) {
  auto v = JwtVerifier::ForHmacSecret(std::string(31, 's'));
  ASSERT_FALSE(v.ok());
  EXPECT_EQ(v.error().code, ErrorCode::kInvalidRequest);
  EXPECT_TRUE(JwtVerifier::ForHmacSecret(std::string(32, 's')).ok());
}

TEST(JwtVerifierTest, UnsupportedPublicKeysRefused) {
  const std::string rsa1024 = testing::GenerateRsa(1024).public_pem;
  const std::string p384 = testing::GenerateEc("P-384").public_pem;
  const std::string ed = testing::GenerateEd25519().public_pem;
  for (const std::string& pem :
       {rsa1024, p384, ed, std::string("not a pem"), std::string(""), Rsa2048().private_pem}) {
    auto v = JwtVerifier::ForPublicKeyPem(pem);
    ASSERT_FALSE(v.ok()) << pem;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidRequest);
  }
}

}  // namespace
}  // namespace overseer::auth

namespace overseer::auth {
namespace {

// Verify is const and thread-safe: several threads share two HS256 verifiers (so each
// thread's cached HMAC context keeps switching keys) and an ES256 one.
TEST(JwtVerifierConcurrencyTest, SharedVerifiersAgreeAcrossThreads) {
  auto a = HsVerifier();
  auto b = JwtVerifier::ForHmacSecret("second-secret-0123456789abcdef-0123456789");
  ASSERT_TRUE(b.ok());
  auto es = PemVerifier(EcP256().public_pem);
  const std::string token_a = HsToken(kHsHeader, kPayload);
  const std::string token_b =
      MakeHsToken("second-secret-0123456789abcdef-0123456789", kHsHeader, kPayload);
  const std::string token_es = MakePkToken(EcP256().private_pem, true, kEsHeader, kPayload);

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (!a->Verify(token_a, kNow).ok()) ++wrong;
        if (a->Verify(token_b, kNow).ok()) ++wrong;
        if (!(*b)->Verify(token_b, kNow).ok()) ++wrong;
        if ((*b)->Verify(token_a, kNow).ok()) ++wrong;
        if (!a->Verify(token_a, kNow).ok()) ++wrong;  // same key twice in a row
        if (i % 20 == 0 && !es->Verify(token_es, kNow).ok()) ++wrong;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// A verifier destroyed and another made (possibly at the same address) must not reuse the
// first one's key.
TEST(JwtVerifierConcurrencyTest, NewVerifierNeverUsesOldKey) {
  const std::string token = HsToken(kHsHeader, kPayload);
  for (int i = 0; i < 20; ++i) {
    {
      auto v = HsVerifier();
      ASSERT_TRUE(v->Verify(token, kNow).ok());
    }
    auto other = JwtVerifier::ForHmacSecret("yet-another-secret-0123456789abcdef!");
    ASSERT_TRUE(other.ok());
    ASSERT_FALSE((*other)->Verify(token, kNow).ok());
  }
}

}  // namespace
}  // namespace overseer::auth
