// JWT (compact JWS) verification and signing on OpenSSL 3 EVP, per SPEC §5.
//
// The configured key alone fixes the one algorithm accepted: the token header's "alg" must
// equal it exactly (so "none", HS256 against an RSA key, RS384, ... are refused); "crit"
// headers are refused; "kid", "jku", "x5u", "jwk" are ignored and never fetched.
//
// Thread rule: JwtVerifier and JwtSigner are immutable after creation; Verify and Sign are
// const and safe to call from any number of threads at once. Verify is cheap enough for the
// event loop (no I/O, no locks; HS256 ~5 us at -O2 on this machine, mostly JSON parsing).
// HS256 keeps one keyed HMAC context per thread (for the last key that thread used), freed
// at thread exit; threads that call Verify/Sign must end before the process exits.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/principal.h"
#include "common/result.h"
#include "common/time.h"

namespace overseer::auth {

enum class Algorithm { kHS256, kRS256, kES256 };

// "HS256", "RS256", "ES256".
std::string_view AlgorithmName(Algorithm alg);

inline constexpr size_t kMaxTokenBytes = 8 * 1024;   // larger tokens are refused unread
inline constexpr TimeMs kClockLeewayMs = 30 * 1000;  // for exp and nbf
inline constexpr size_t kMinHmacSecretBytes = 32;
inline constexpr size_t kMaxWorkspaceIdChars = 64;

// Owns the OpenSSL key objects shared by JwtVerifier and JwtSigner. Internal.
struct KeyMaterial;

class JwtVerifier {
 public:
  // HS256 with `secret` (raw bytes). kInvalidRequest if shorter than 32 bytes;
  // kInternal if OpenSSL cannot set up HMAC.
  static Result<std::unique_ptr<JwtVerifier>> ForHmacSecret(std::string secret);

  // RS256 for an RSA public key of at least 2048 bits, ES256 for an EC P-256 public key,
  // given as PEM "PUBLIC KEY" (SubjectPublicKeyInfo). kInvalidRequest for anything else
  // (unparsable PEM, other key types or curves, short RSA keys).
  static Result<std::unique_ptr<JwtVerifier>> ForPublicKeyPem(std::string_view pem);

  ~JwtVerifier();
  JwtVerifier(const JwtVerifier&) = delete;
  JwtVerifier& operator=(const JwtVerifier&) = delete;

  Algorithm algorithm() const;

  // Checks `token` (compact JWS) at wall time `now_ms` and returns who it speaks for.
  // Every failure is kUnauthenticated with a short message saying what is wrong (the token
  // itself is never echoed): too large, malformed, bad encoding, wrong algorithm, crit
  // header, bad signature, expired, not yet valid, missing or mistyped claims.
  // Required claims: sub (non-empty string), workspace_id (1..64 chars of [A-Za-z0-9_.-]),
  // exp (number, seconds). Optional: nbf, iat (numbers), scopes (array of strings),
  // scope (space-separated string; merged with scopes), job_id (string like workspace_id).
  // Any thread.
  Result<Principal> Verify(std::string_view token, TimeMs now_ms) const;

 private:
  explicit JwtVerifier(std::unique_ptr<KeyMaterial> key);
  std::unique_ptr<KeyMaterial> key_;
};

// What JwtSigner puts in a token. Times in ms since the epoch, written as whole seconds.
struct Claims {
  std::string subject;
  std::string workspace_id;
  std::vector<std::string> scopes;  // written as the "scopes" array
  std::string job_id;               // "": omitted
  TimeMs issued_at = 0;             // 0: omitted
  TimeMs not_before = 0;            // 0: omitted
  TimeMs expires_at = 0;            // required
};

// Mints tokens: for `overseer token create` and for per-worker tokens.
class JwtSigner {
 public:
  // HS256; kInvalidRequest if `secret` is shorter than 32 bytes.
  static Result<std::unique_ptr<JwtSigner>> ForHmacSecret(std::string secret);

  // RS256 (RSA >= 2048 bits) or ES256 (EC P-256) from an unencrypted private key PEM
  // (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY"). kInvalidRequest for
  // anything else, including encrypted keys (never prompts for a passphrase).
  static Result<std::unique_ptr<JwtSigner>> ForPrivateKeyPem(std::string_view pem);

  ~JwtSigner();
  JwtSigner(const JwtSigner&) = delete;
  JwtSigner& operator=(const JwtSigner&) = delete;

  Algorithm algorithm() const;

  // Compact JWS with header {"alg":..,"typ":"JWT"}. kInvalidRequest if the claims would not
  // pass JwtVerifier (empty subject, bad workspace_id or job_id, expires_at <= 0, empty
  // scope names or ones holding spaces); kInternal if OpenSSL fails. Any thread.
  Result<std::string> Sign(const Claims& claims) const;

 private:
  explicit JwtSigner(std::unique_ptr<KeyMaterial> key);
  std::unique_ptr<KeyMaterial> key_;
};

// Parses a duration: "<n>" (seconds) or "<n>s", "<n>m", "<n>h", "<n>d" into milliseconds.
// n is a positive decimal integer. kInvalidRequest for anything else (empty, zero,
// negative, other units, overflow). Any thread.
Result<int64_t> ParseDuration(std::string_view s);

}  // namespace overseer::auth
