// Interop with PyJWT (Debian's python3-jwt + python3-cryptography): tokens PyJWT mints must
// verify here, and tokens JwtSigner mints must verify in PyJWT.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "auth/jwt.h"
#include "test_keys.h"

namespace overseer::auth {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr TimeMs kNow = 1'800'000'000'000;
constexpr char kSecret[] = "pyjwt-interop-secret-0123456789abcdef";

constexpr char kScript[] = R"PY(
import json, sys
import jwt
mode, alg, keyfile, arg = sys.argv[1:5]
key = open(keyfile).read()
if mode == "encode":
    print(jwt.encode(json.loads(arg), key, algorithm=alg))
else:
    opts = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}
    print(json.dumps(jwt.decode(arg, key, algorithms=[alg], options=opts), sort_keys=True))
)PY";

class PyJwtInteropTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(access(kPython, X_OK), 0) << kPython << " is required (python3-jwt)";
    dir_ = ::testing::TempDir() + "/pyjwt_" + std::to_string(getpid());
    std::filesystem::create_directories(dir_);
    script_ = Write("interop.py", kScript);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // Writes `text` to dir_/`name`; returns the path.
  std::string Write(std::string_view name, const std::string& text) {
    std::string path = dir_ + "/" + std::string(name);
    std::ofstream(path) << text;
    return path;
  }

  // Runs the script; returns its stdout without the trailing newline ("" on failure).
  std::string Run(const std::string& mode, const std::string& alg, const std::string& keyfile,
                  const std::string& arg) {
    const std::string cmd = std::string(kPython) + " '" + script_ + "' " + mode + " " + alg + " '" +
                            keyfile + "' '" + arg + "'";
    FILE* p = popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    if (p == nullptr) return "";
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    const int status = pclose(p);
    EXPECT_EQ(status, 0) << cmd;
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
    return out;
  }

  void ExpectPyJwtTokenVerifies(const std::string& alg, const std::string& signing_key_file,
                                const JwtVerifier& verifier) {
    const std::string claims =
        R"({"sub": "bob", "workspace_id": "ws-9", "scopes": ["jobs:read", "supervisor:read"],)"
        R"( "job_id": "j_42", "iat": 1800000000, "nbf": 1800000000, "exp": 1800000600})";
    const std::string token = Run("encode", alg, signing_key_file, claims);
    ASSERT_FALSE(token.empty());
    Result<Principal> p = verifier.Verify(token, kNow);
    ASSERT_TRUE(p.ok()) << alg << ": " << p.error().message;
    EXPECT_EQ(p->subject, "bob");
    EXPECT_EQ(p->workspace_id, "ws-9");
    EXPECT_EQ(p->scopes, (std::vector<std::string>{"jobs:read", "supervisor:read"}));
    EXPECT_EQ(p->job_id, "j_42");
    EXPECT_EQ(p->expires_at, 1'800'000'600'000);

    // PyJWT's "scope" string form too.
    const std::string token2 = Run(
        "encode", alg, signing_key_file,
        R"({"sub": "bob", "workspace_id": "ws-9", "scope": "jobs:write resources:read", "exp": 1800000600})");
    Result<Principal> p2 = verifier.Verify(token2, kNow);
    ASSERT_TRUE(p2.ok()) << alg << ": " << p2.error().message;
    EXPECT_EQ(p2->scopes, (std::vector<std::string>{"jobs:write", "resources:read"}));
  }

  void ExpectOurTokenVerifiesInPyJwt(const std::string& alg, const JwtSigner& signer,
                                     const std::string& verify_key_file) {
    Claims c;
    c.subject = "carol";
    c.workspace_id = "ws-3";
    c.scopes = {"jobs:read"};
    c.job_id = "j_7";
    c.issued_at = kNow;
    c.expires_at = kNow + 60'000;
    Result<std::string> token = signer.Sign(c);
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(Run("decode", alg, verify_key_file, *token),
              R"({"exp": 1800000060, "iat": 1800000000, "job_id": "j_7", "scopes": ["jobs:read"], )"
              R"("sub": "carol", "workspace_id": "ws-3"})");
  }

  std::string dir_;
  std::string script_;
};

TEST_F(PyJwtInteropTest, Hs256) {
  const std::string key_file = Write("secret", kSecret);
  auto verifier = JwtVerifier::ForHmacSecret(kSecret);
  auto signer = JwtSigner::ForHmacSecret(kSecret);
  ASSERT_TRUE(verifier.ok() && signer.ok());
  ExpectPyJwtTokenVerifies("HS256", key_file, **verifier);
  ExpectOurTokenVerifiesInPyJwt("HS256", **signer, key_file);
}

TEST_F(PyJwtInteropTest, Rs256) {
  const std::string priv = Write("rsa.pem", testing::Rsa2048().private_pem);
  const std::string pub = Write("rsa.pub", testing::Rsa2048().public_pem);
  auto verifier = JwtVerifier::ForPublicKeyPem(testing::Rsa2048().public_pem);
  auto signer = JwtSigner::ForPrivateKeyPem(testing::Rsa2048().private_pem);
  ASSERT_TRUE(verifier.ok() && signer.ok());
  ExpectPyJwtTokenVerifies("RS256", priv, **verifier);
  ExpectOurTokenVerifiesInPyJwt("RS256", **signer, pub);
}

TEST_F(PyJwtInteropTest, Es256) {
  const std::string priv = Write("ec.pem", testing::EcP256().private_pem);
  const std::string pub = Write("ec.pub", testing::EcP256().public_pem);
  auto verifier = JwtVerifier::ForPublicKeyPem(testing::EcP256().public_pem);
  auto signer = JwtSigner::ForPrivateKeyPem(testing::EcP256().private_pem);
  ASSERT_TRUE(verifier.ok() && signer.ok());
  ExpectPyJwtTokenVerifies("ES256", priv, **verifier);
  ExpectOurTokenVerifiesInPyJwt("ES256", **signer, pub);
}

// A PyJWT token signed with the wrong secret is refused (the interop path is not lenient).
TEST_F(PyJwtInteropTest, Hs256WrongSecretRejected) {
  const std::string key_file = Write("other", "some-other-secret-0123456789abcdefgh");
  auto verifier = JwtVerifier::ForHmacSecret(kSecret);
  ASSERT_TRUE(verifier.ok());
  const std::string token =
      Run("encode", "HS256", key_file, R"({"sub": "x", "workspace_id": "w", "exp": 1800000600})");
  Result<Principal> p = (*verifier)->Verify(token, kNow);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, ErrorCode::kUnauthenticated);
}

}  // namespace
}  // namespace overseer::auth
