// Test helpers for auth: real keys generated with OpenSSL, hand-made JWS tokens (so tests
// can forge headers and signatures the library itself would never produce).
#pragma once

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <string>
#include <string_view>

#include "common/base64url.h"

namespace overseer::auth::testing {

struct KeyPair {
  std::string private_pem;  // PKCS#8
  std::string public_pem;   // SubjectPublicKeyInfo
};

inline std::string BioToString(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

// Writes `pkey` to PEM; frees it.
inline KeyPair ToPem(EVP_PKEY* pkey) {
  EXPECT_NE(pkey, nullptr);
  KeyPair kp;
  if (pkey == nullptr) return kp;
  BIO* priv = BIO_new(BIO_s_mem());
  BIO* pub = BIO_new(BIO_s_mem());
  EXPECT_EQ(PEM_write_bio_PrivateKey(priv, pkey, nullptr, nullptr, 0, nullptr, nullptr), 1);
  EXPECT_EQ(PEM_write_bio_PUBKEY(pub, pkey), 1);
  kp.private_pem = BioToString(priv);
  kp.public_pem = BioToString(pub);
  BIO_free(priv);
  BIO_free(pub);
  EVP_PKEY_free(pkey);
  return kp;
}

inline KeyPair GenerateRsa(size_t bits) {
  return ToPem(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}

inline KeyPair GenerateEc(const char* curve) {
  return ToPem(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

inline KeyPair GenerateEd25519() { return ToPem(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")); }

// Generated once per process: RSA keygen is slow under ASan.
inline const KeyPair& Rsa2048() {
  static const KeyPair kp = GenerateRsa(2048);
  return kp;
}
inline const KeyPair& OtherRsa2048() {
  static const KeyPair kp = GenerateRsa(2048);
  return kp;
}
inline const KeyPair& EcP256() {
  static const KeyPair kp = GenerateEc("P-256");
  return kp;
}
inline const KeyPair& OtherEcP256() {
  static const KeyPair kp = GenerateEc("P-256");
  return kp;
}

inline std::string B64(std::string_view s) { return Base64UrlEncode(s); }

inline std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

// Signature over `data` with SHA-256 and the private key in `pem`, as EVP produces it
// (RSA PKCS#1 v1.5, or DER ECDSA-Sig-Value for EC).
inline std::string SignWithPem(std::string_view pem, std::string_view data) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  EXPECT_NE(pkey, nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  size_t len = 0;
  EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey), 1);
  const auto* d = reinterpret_cast<const unsigned char*>(data.data());
  EXPECT_EQ(EVP_DigestSign(ctx, nullptr, &len, d, data.size()), 1);
  std::string sig(len, '\0');
  EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, d, data.size()),
            1);
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return sig;
}

// ECDSA DER signature -> raw R||S of 32 + 32 bytes (JWS form).
inline std::string DerToRaw(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  EXPECT_NE(sig, nullptr);
  std::string raw(64, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  BN_bn2binpad(ECDSA_SIG_get0_r(sig), out, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig), out + 32, 32);
  ECDSA_SIG_free(sig);
  return raw;
}

// "b64(header).b64(payload)"
inline std::string SigningInput(std::string_view header_json, std::string_view payload_json) {
  return B64(header_json) + "." + B64(payload_json);
}

// A complete HS256 token over the given JSON texts, whatever they claim.
inline std::string MakeHsToken(std::string_view secret, std::string_view header_json,
                               std::string_view payload_json) {
  const std::string input = SigningInput(header_json, payload_json);
  return input + "." + B64(HmacSha256(secret, input));
}

// A complete token signed with SHA-256 by `private_pem` (RSA: PKCS#1; EC: raw R||S).
inline std::string MakePkToken(std::string_view private_pem, bool ec, std::string_view header_json,
                               std::string_view payload_json) {
  const std::string input = SigningInput(header_json, payload_json);
  std::string sig = SignWithPem(private_pem, input);
  if (ec) sig = DerToRaw(sig);
  return input + "." + B64(sig);
}

}  // namespace overseer::auth::testing
