// JwtSigner: round trips through JwtVerifier for every algorithm, and what Sign refuses.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <string>

#include "auth/jwt.h"
#include "test_keys.h"

namespace overseer::auth {
namespace {

using testing::EcP256;
using testing::Rsa2048;

constexpr TimeMs kNow = 1'800'000'000'000;
constexpr char kSecret[] = "0123456789abcdef0123456789abcdef-test-secret";

Claims SampleClaims() {
  Claims c;
  c.subject = "operator@example.com";
  c.workspace_id = "ws-1";
  c.scopes = {std::string(kJobsRead), std::string(kJobsWrite), std::string(kResourcesAdmin)};
  c.job_id = "j_0001";
  c.issued_at = kNow;
  c.not_before = kNow;
  c.expires_at = kNow + 3'600'000;
  return c;
}

void ExpectRoundTrip(const JwtSigner& signer, const JwtVerifier& verifier) {
  ASSERT_EQ(signer.algorithm(), verifier.algorithm());
  Result<std::string> token = signer.Sign(SampleClaims());
  ASSERT_TRUE(token.ok()) << token.error().message;
  Result<Principal> p = verifier.Verify(*token, kNow);
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->subject, "operator@example.com");
  EXPECT_EQ(p->workspace_id, "ws-1");
  EXPECT_EQ(p->scopes, SampleClaims().scopes);
  EXPECT_EQ(p->job_id, "j_0001");
  EXPECT_EQ(p->expires_at, kNow + 3'600'000);
  // And the token expires when the claims say.
  Result<Principal> late = verifier.Verify(*token, kNow + 3'600'000 + kClockLeewayMs + 1);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kUnauthenticated);
}

TEST(JwtSignerTest, Hs256RoundTrip) {
  auto signer = JwtSigner::ForHmacSecret(kSecret);
  auto verifier = JwtVerifier::ForHmacSecret(kSecret);
  ASSERT_TRUE(signer.ok() && verifier.ok());
  EXPECT_EQ((*signer)->algorithm(), Algorithm::kHS256);
  ExpectRoundTrip(**signer, **verifier);
}

TEST(JwtSignerTest, Rs256RoundTrip) {
  auto signer = JwtSigner::ForPrivateKeyPem(Rsa2048().private_pem);
  ASSERT_TRUE(signer.ok()) << signer.error().message;
  auto verifier = JwtVerifier::ForPublicKeyPem(Rsa2048().public_pem);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ((*signer)->algorithm(), Algorithm::kRS256);
  ExpectRoundTrip(**signer, **verifier);
}

TEST(JwtSignerTest, Es256RoundTripProducesRawSignature) {
  auto signer = JwtSigner::ForPrivateKeyPem(EcP256().private_pem);
  ASSERT_TRUE(signer.ok()) << signer.error().message;
  auto verifier = JwtVerifier::ForPublicKeyPem(EcP256().public_pem);
  ASSERT_TRUE(verifier.ok());
  EXPECT_EQ((*signer)->algorithm(), Algorithm::kES256);
  ExpectRoundTrip(**signer, **verifier);
  Result<std::string> token = (*signer)->Sign(SampleClaims());
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->size() - token->rfind('.') - 1, 86u);  // 64 bytes -> 86 base64url chars
}

TEST(JwtSignerTest, HeaderIsAlgAndTyp) {
  auto signer = JwtSigner::ForPrivateKeyPem(EcP256().private_pem);
  ASSERT_TRUE(signer.ok());
  Result<std::string> token = (*signer)->Sign(SampleClaims());
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(Base64UrlDecodeToString(token->substr(0, token->find('.'))),
            std::string(R"({"alg":"ES256","typ":"JWT"})"));
}

TEST(JwtSignerTest, SignerForOneKeyDoesNotVerifyUnderAnother) {
  auto signer = JwtSigner::ForHmacSecret(kSecret);
  auto other = JwtVerifier::ForHmacSecret("another-secret-of-32-bytes-or-more!!");
  ASSERT_TRUE(signer.ok() && other.ok());
  Result<std::string> token = (*signer)->Sign(SampleClaims());
  ASSERT_TRUE(token.ok());
  Result<Principal> p = (*other)->Verify(*token, kNow);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kUnauthenticated);
}

TEST(JwtSignerTest, OptionalClaimsOmitted) {
  auto signer = JwtSigner::ForHmacSecret(kSecret);
  ASSERT_TRUE(signer.ok());
  Claims c;
  c.subject = "s";
  c.workspace_id = "w";
  c.expires_at = 1'800'000'000'000;
  Result<std::string> token = (*signer)->Sign(c);
  ASSERT_TRUE(token.ok());
  const size_t dot1 = token->find('.');
  EXPECT_EQ(Base64UrlDecodeToString(token->substr(dot1 + 1, token->rfind('.') - dot1 - 1)),
            std::string(R"({"sub":"s","workspace_id":"w","scopes":[],"exp":1800000000})"));
}

TEST(JwtSignerTest, InvalidClaimsRefused) {
  auto signer = JwtSigner::ForHmacSecret(kSecret);
  ASSERT_TRUE(signer.ok());
  std::vector<Claims> bad(6, SampleClaims());
  bad[0].subject = "";
  bad[1].workspace_id = "";
  bad[2].workspace_id = "a/b";
  bad[3].job_id = "j 1";
  bad[4].expires_at = 0;
  bad[5].scopes = {"jobs:read jobs:write"};
  for (const Claims& c : bad) {
    Result<std::string> token = (*signer)->Sign(c);
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.error().code, ErrorCode::kInvalidRequest);
  }
}

TEST(JwtSignerTest, ShortSecretRefused) {
  auto signer = JwtSigner::ForHmacSecret("too-short");
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.error().code, ErrorCode::kInvalidRequest);
}

TEST(JwtSignerTest, UnsupportedPrivateKeysRefused) {
  for (const std::string& pem :
       {testing::GenerateRsa(1024).private_pem, testing::GenerateEc("P-384").private_pem,
        testing::GenerateEd25519().private_pem, Rsa2048().public_pem, std::string("garbage")}) {
    auto signer = JwtSigner::ForPrivateKeyPem(pem);
    ASSERT_FALSE(signer.ok());
    EXPECT_EQ(signer.error().code, ErrorCode::kInvalidRequest);
  }
}

TEST(JwtSignerTest, EncryptedPrivateKeyRefusedWithoutPrompting) {
  BIO* bio =
      BIO_new_mem_buf(EcP256().private_pem.data(), static_cast<int>(EcP256().private_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char pass[] = "passphrase";
  ASSERT_EQ(PEM_write_bio_PKCS8PrivateKey(out, pkey, EVP_aes_256_cbc(), pass, sizeof pass - 1,
                                          nullptr, nullptr),
            1);
  const std::string encrypted = testing::BioToString(out);
  BIO_free(out);
  EVP_PKEY_free(pkey);
  ASSERT_NE(encrypted.find("ENCRYPTED"), std::string::npos);

  auto signer = JwtSigner::ForPrivateKeyPem(encrypted);
  ASSERT_FALSE(signer.ok());
  EXPECT_EQ(signer.error().code, ErrorCode::kInvalidRequest);
}

TEST(JwtSignerTest, TraditionalPemFormatsAccepted) {
  // "EC PRIVATE KEY" (SEC 1) as `openssl ecparam -genkey` writes it.
  BIO* bio =
      BIO_new_mem_buf(EcP256().private_pem.data(), static_cast<int>(EcP256().private_pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ASSERT_NE(pkey, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(out, pkey, nullptr, nullptr, 0, nullptr, nullptr),
            1);
  const std::string sec1 = testing::BioToString(out);
  BIO_free(out);
  EVP_PKEY_free(pkey);
  ASSERT_NE(sec1.find("BEGIN EC PRIVATE KEY"), std::string::npos);
  auto signer = JwtSigner::ForPrivateKeyPem(sec1);
  ASSERT_TRUE(signer.ok()) << signer.error().message;
  EXPECT_EQ((*signer)->algorithm(), Algorithm::kES256);
}

}  // namespace
}  // namespace overseer::auth
