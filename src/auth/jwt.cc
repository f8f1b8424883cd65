#include "auth/jwt.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <boost/json.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>

#include "common/base64url.h"

namespace overseer::auth {

namespace json = boost::json;

// The key objects for one algorithm. Immutable after Make*; read concurrently.
struct KeyMaterial {
  uint64_t id = 0;  // unique per process: keys the per-thread HMAC context cache
  Algorithm alg = Algorithm::kHS256;
  EVP_MAC* mac = nullptr;               // HS256
  EVP_MAC_CTX* mac_template = nullptr;  // HS256: keyed; duplicated per call
  EVP_PKEY* pkey = nullptr;             // RS256 / ES256
  EVP_MD* sha256 = nullptr;             // RS256 / ES256
  size_t signature_size = 0;            // raw JWS signature bytes

  KeyMaterial() = default;
  KeyMaterial(const KeyMaterial&) = delete;
  KeyMaterial& operator=(const KeyMaterial&) = delete;
  ~KeyMaterial() {
    EVP_MAC_CTX_free(mac_template);
    EVP_MAC_free(mac);
    EVP_PKEY_free(pkey);
    EVP_MD_free(sha256);
  }
};

namespace {

std::atomic<uint64_t> next_key_id{1};

constexpr size_t kHs256Bytes = 32;
constexpr size_t kEs256Bytes = 64;
constexpr size_t kEs256CoordBytes = 32;
// NumericDate bound: 9999-12-31T23:59:59Z; keeps seconds * 1000 far from overflow.
constexpr int64_t kMaxNumericDate = 253402300799;

Error Unauthenticated(std::string message) {
  return MakeError(ErrorCode::kUnauthenticated, std::move(message));
}

Error InvalidRequest(std::string message) {
  return MakeError(ErrorCode::kInvalidRequest, std::move(message));
}

// Frees on scope exit; for OpenSSL objects made and dropped within one call.
template <typename T, void (*Free)(T*)>
struct Owned {
  T* p = nullptr;
  Owned() = default;
  explicit Owned(T* q) : p(q) {}
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() { Free(p); }
  T* release() {
    T* q = p;
    p = nullptr;
    return q;
  }
};

void FreeBio(BIO* b) { BIO_free(b); }
using OwnedBio = Owned<BIO, FreeBio>;
using OwnedPkey = Owned<EVP_PKEY, EVP_PKEY_free>;
using OwnedMdCtx = Owned<EVP_MD_CTX, EVP_MD_CTX_free>;
using OwnedEcdsaSig = Owned<ECDSA_SIG, ECDSA_SIG_free>;
void FreeBn(BIGNUM* b) { BN_free(b); }
using OwnedBn = Owned<BIGNUM, FreeBn>;

bool IsIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

// 1..64 chars of [A-Za-z0-9_.-]: workspace_id and job_id.
bool IsValidIdClaim(std::string_view s) {
  if (s.empty() || s.size() > kMaxWorkspaceIdChars) return false;
  for (const char c : s) {
    if (!IsIdChar(c)) return false;
  }
  return true;
}

// A JSON number of seconds as ms; nullopt if not a number or out of range.
std::optional<TimeMs> NumericDateMs(const json::value& v) {
  if (v.is_int64()) {
    const int64_t s = v.get_int64();
    if (s < -kMaxNumericDate || s > kMaxNumericDate) return std::nullopt;
    return s * 1000;
  }
  if (v.is_double()) {
    const double d = v.get_double();
    if (!std::isfinite(d) || d < -static_cast<double>(kMaxNumericDate) ||
        d > static_cast<double>(kMaxNumericDate)) {
      return std::nullopt;
    }
    return static_cast<TimeMs>(std::floor(d * 1000.0));
  }
  return std::nullopt;  // uint64 only holds values beyond int64: out of range anyway
}

// Loads a key's algorithm facts into `km` (pkey already set); kInvalidRequest if the key
// is neither RSA >= 2048 bits nor EC P-256.
Status ClassifyKey(KeyMaterial& km) {
  EVP_PKEY* pkey = km.pkey;
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    const int bits = EVP_PKEY_get_bits(pkey);
    if (bits < 2048) return InvalidRequest("RSA key must have at least 2048 bits");
    km.alg = Algorithm::kRS256;
    km.signature_size = static_cast<size_t>(EVP_PKEY_get_size(pkey));
  } else if (EVP_PKEY_is_a(pkey, "EC")) {
    char group[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &len) != 1 ||
        (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
      return InvalidRequest("EC key must be on curve P-256");
    }
    km.alg = Algorithm::kES256;
    km.signature_size = kEs256Bytes;
  } else {
    return InvalidRequest("key must be RSA (RS256) or EC P-256 (ES256)");
  }
  km.sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (km.sha256 == nullptr) return MakeError(ErrorCode::kInternal, "SHA256 unavailable");
  return OkStatus();
}

Result<std::unique_ptr<KeyMaterial>> MakeHmacKey(const std::string& secret) {
  if (secret.size() < kMinHmacSecretBytes) {
    return InvalidRequest("HMAC secret must be at least 32 bytes");
  }
  auto km = std::make_unique<KeyMaterial>();
  km->id = next_key_id.fetch_add(1, std::memory_order_relaxed);
  km->alg = Algorithm::kHS256;
  km->signature_size = kHs256Bytes;
  km->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (km->mac != nullptr) km->mac_template = EVP_MAC_CTX_new(km->mac);
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_END};
  if (km->mac_template == nullptr ||
      EVP_MAC_init(km->mac_template, reinterpret_cast<const unsigned char*>(secret.data()),
                   secret.size(), params) != 1) {
    ERR_clear_error();
    return MakeError(ErrorCode::kInternal, "cannot set up HMAC-SHA256");
  }
  return km;
}

// One keyed HMAC context per thread, reset (EVP_MAC_init with a null key keeps the key)
// instead of duplicated per call: a dup costs ~1.5 us, a reset ~0.3 us. Holds the context
// of the last key this thread used; freed at thread exit.
struct ThreadMacCache {
  uint64_t key_id = 0;
  EVP_MAC_CTX* ctx = nullptr;
  ThreadMacCache() = default;
  ThreadMacCache(const ThreadMacCache&) = delete;
  ThreadMacCache& operator=(const ThreadMacCache&) = delete;
  ~ThreadMacCache() { EVP_MAC_CTX_free(ctx); }
  void Reset() {
    EVP_MAC_CTX_free(ctx);
    ctx = nullptr;
    key_id = 0;
  }
};
thread_local ThreadMacCache tls_mac_cache;

// HMAC-SHA256 of `data` into `out` (32 bytes); false on an OpenSSL failure.
bool ComputeHmac(const KeyMaterial& km, std::string_view data, unsigned char* out) {
  ThreadMacCache& cache = tls_mac_cache;
  if (cache.key_id != km.id) {
    cache.Reset();
    cache.ctx = EVP_MAC_CTX_dup(km.mac_template);
    if (cache.ctx != nullptr) cache.key_id = km.id;
  }
  size_t len = 0;
  const bool ok = cache.ctx != nullptr && EVP_MAC_init(cache.ctx, nullptr, 0, nullptr) == 1 &&
                  EVP_MAC_update(cache.ctx, reinterpret_cast<const unsigned char*>(data.data()),
                                 data.size()) == 1 &&
                  EVP_MAC_final(cache.ctx, out, &len, kHs256Bytes) == 1 && len == kHs256Bytes;
  if (!ok) {
    cache.Reset();
    ERR_clear_error();
  }
  return ok;
}

// Raw R||S (64 bytes) to the DER ECDSA-Sig-Value EVP expects; empty on failure.
std::string EcdsaRawToDer(const unsigned char* raw) {
  OwnedEcdsaSig sig(ECDSA_SIG_new());
  OwnedBn r(BN_bin2bn(raw, kEs256CoordBytes, nullptr));
  OwnedBn s(BN_bin2bn(raw + kEs256CoordBytes, kEs256CoordBytes, nullptr));
  if (sig.p == nullptr || r.p == nullptr || s.p == nullptr) return {};
  if (ECDSA_SIG_set0(sig.p, r.p, s.p) != 1) return {};
  r.release();
  s.release();
  unsigned char der[80];  // 2 INTEGERs of at most 33 bytes + headers: < 80
  unsigned char* p = der;
  const int n = i2d_ECDSA_SIG(sig.p, nullptr);
  if (n <= 0 || static_cast<size_t>(n) > sizeof der) return {};
  if (i2d_ECDSA_SIG(sig.p, &p) != n) return {};
  return std::string(reinterpret_cast<const char*>(der), static_cast<size_t>(n));
}

// DER ECDSA-Sig-Value to raw R||S (64 bytes); empty on failure.
std::string EcdsaDerToRaw(const unsigned char* der, size_t len) {
  const unsigned char* p = der;
  OwnedEcdsaSig sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(len)));
  if (sig.p == nullptr) return {};
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.p, &r, &s);
  std::string raw(kEs256Bytes, '\0');
  auto* out = reinterpret_cast<unsigned char*>(raw.data());
  if (BN_bn2binpad(r, out, kEs256CoordBytes) != kEs256CoordBytes ||
      BN_bn2binpad(s, out + kEs256CoordBytes, kEs256CoordBytes) != kEs256CoordBytes) {
    return {};
  }
  return raw;
}

bool VerifyPkeySignature(const KeyMaterial& km, std::string_view signed_part,
                         const unsigned char* sig, size_t sig_len) {
  OwnedMdCtx ctx(EVP_MD_CTX_new());
  const bool ok = ctx.p != nullptr &&
                  EVP_DigestVerifyInit(ctx.p, nullptr, km.sha256, nullptr, km.pkey) == 1 &&
                  EVP_DigestVerify(ctx.p, sig, sig_len,
                                   reinterpret_cast<const unsigned char*>(signed_part.data()),
                                   signed_part.size()) == 1;
  ERR_clear_error();  // a failed verify leaves entries on this thread's queue
  return ok;
}

// Checks the signature `sig` (already base64url-decoded) over `signed_part`.
bool VerifySignature(const KeyMaterial& km, std::string_view signed_part, const unsigned char* sig,
                     size_t sig_len) {
  if (sig_len != km.signature_size) return false;
  switch (km.alg) {
    case Algorithm::kHS256: {
      unsigned char mac[kHs256Bytes];
      if (!ComputeHmac(km, signed_part, mac)) return false;
      return CRYPTO_memcmp(mac, sig, kHs256Bytes) == 0;
    }
    case Algorithm::kRS256:
      return VerifyPkeySignature(km, signed_part, sig, sig_len);
    case Algorithm::kES256: {
      const std::string der = EcdsaRawToDer(sig);
      if (der.empty()) {
        ERR_clear_error();
        return false;
      }
      return VerifyPkeySignature(km, signed_part,
                                 reinterpret_cast<const unsigned char*>(der.data()), der.size());
    }
  }
  return false;
}

// Parses `text` into storage `sp`; a null value if it is not valid JSON.
json::value ParseJson(std::string_view text, const json::storage_ptr& sp) {
  json::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec, sp);
  if (ec) return json::value(sp);
  return v;
}

std::string_view ToStd(json::string_view s) { return {s.data(), s.size()}; }

// Appends the space-separated names of `s` to `out`.
void SplitScopes(std::string_view s, std::vector<std::string>& out) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t j = s.find(' ', i);
    const size_t end = j == std::string_view::npos ? s.size() : j;
    if (end > i) out.emplace_back(s.substr(i, end - i));
    i = end + 1;
  }
}

Result<Principal> ReadClaims(const json::object& claims, TimeMs now_ms) {
  Principal p;

  const json::value* sub = claims.if_contains("sub");
  if (sub == nullptr) return Unauthenticated("token lacks the sub claim");
  if (!sub->is_string() || sub->get_string().empty()) {
    return Unauthenticated("token claim sub must be a non-empty string");
  }
  p.subject = ToStd(sub->get_string());

  const json::value* ws = claims.if_contains("workspace_id");
  if (ws == nullptr) return Unauthenticated("token lacks the workspace_id claim");
  if (!ws->is_string() || !IsValidIdClaim(ToStd(ws->get_string()))) {
    return Unauthenticated("token claim workspace_id must be 1-64 chars of [A-Za-z0-9_.-]");
  }
  p.workspace_id = ToStd(ws->get_string());

  const json::value* exp = claims.if_contains("exp");
  if (exp == nullptr) return Unauthenticated("token lacks the exp claim");
  std::optional<TimeMs> exp_ms = NumericDateMs(*exp);
  if (!exp_ms) return Unauthenticated("token claim exp must be a number of seconds");
  p.expires_at = *exp_ms;

  std::optional<TimeMs> nbf_ms;
  if (const json::value* nbf = claims.if_contains("nbf")) {
    nbf_ms = NumericDateMs(*nbf);
    if (!nbf_ms) return Unauthenticated("token claim nbf must be a number of seconds");
  }
  if (const json::value* iat = claims.if_contains("iat")) {
    if (!NumericDateMs(*iat)) return Unauthenticated("token claim iat must be a number of seconds");
  }

  if (now_ms > *exp_ms + kClockLeewayMs) return Unauthenticated("token expired");
  if (nbf_ms && now_ms + kClockLeewayMs < *nbf_ms) return Unauthenticated("token not yet valid");

  if (const json::value* scopes = claims.if_contains("scopes")) {
    if (!scopes->is_array())
      return Unauthenticated("token claim scopes must be an array of strings");
    const json::array& arr = scopes->get_array();
    p.scopes.reserve(arr.size());
    for (const json::value& s : arr) {
      if (!s.is_string()) return Unauthenticated("token claim scopes must be an array of strings");
      if (!s.get_string().empty()) p.scopes.emplace_back(ToStd(s.get_string()));
    }
  }
  if (const json::value* scope = claims.if_contains("scope")) {
    if (!scope->is_string()) return Unauthenticated("token claim scope must be a string");
    SplitScopes(ToStd(scope->get_string()), p.scopes);
  }

  if (const json::value* job = claims.if_contains("job_id")) {
    if (!job->is_string() || !IsValidIdClaim(ToStd(job->get_string()))) {
      return Unauthenticated("token claim job_id must be 1-64 chars of [A-Za-z0-9_.-]");
    }
    p.job_id = ToStd(job->get_string());
  }
  return p;
}

Result<std::unique_ptr<KeyMaterial>> LoadPem(std::string_view pem, bool private_key) {
  if (pem.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return InvalidRequest("PEM too large");
  }
  OwnedBio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio.p == nullptr) return MakeError(ErrorCode::kInternal, "cannot allocate BIO");
  // No passphrase: encrypted keys fail instead of prompting on the terminal.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  OwnedPkey pkey(private_key ? PEM_read_bio_PrivateKey(bio.p, nullptr, no_passphrase, nullptr)
                             : PEM_read_bio_PUBKEY(bio.p, nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (pkey.p == nullptr) {
    return InvalidRequest(private_key ? "not an unencrypted private key PEM"
                                      : "not a public key PEM (-----BEGIN PUBLIC KEY-----)");
  }
  auto km = std::make_unique<KeyMaterial>();
  km->pkey = pkey.release();
  Status st = ClassifyKey(*km);
  if (!st) return std::move(st).error();
  return km;
}

constexpr std::string_view HeaderJson(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHS256:
      return R"({"alg":"HS256","typ":"JWT"})";
    case Algorithm::kRS256:
      return R"({"alg":"RS256","typ":"JWT"})";
    case Algorithm::kES256:
      return R"({"alg":"ES256","typ":"JWT"})";
  }
  return {};
}

}  // namespace

std::string_view AlgorithmName(Algorithm alg) {
  switch (alg) {
    case Algorithm::kHS256:
      return "HS256";
    case Algorithm::kRS256:
      return "RS256";
    case Algorithm::kES256:
      return "ES256";
  }
  return "?";
}

// ---------------------------------------------------------------------------- JwtVerifier

JwtVerifier::JwtVerifier(std::unique_ptr<KeyMaterial> key) : key_(std::move(key)) {}
JwtVerifier::~JwtVerifier() = default;

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::ForHmacSecret(std::string secret) {
  Result<std::unique_ptr<KeyMaterial>> km = MakeHmacKey(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!km) return std::move(km).error();
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(*km)));
}

Result<std::unique_ptr<JwtVerifier>> JwtVerifier::ForPublicKeyPem(std::string_view pem) {
  Result<std::unique_ptr<KeyMaterial>> km = LoadPem(pem, /*private_key=*/false);
  if (!km) return std::move(km).error();
  return std::unique_ptr<JwtVerifier>(new JwtVerifier(std::move(*km)));
}

Algorithm JwtVerifier::algorithm() const { return key_->alg; }

Result<Principal> JwtVerifier::Verify(std::string_view token, TimeMs now_ms) const {
  if (token.size() > kMaxTokenBytes) return Unauthenticated("token too large");

  const size_t dot1 = token.find('.');
  const size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return Unauthenticated("token must have exactly three dot-separated parts");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view sig_b64 = token.substr(dot2 + 1);
  if (header_b64.empty() || payload_b64.empty() || sig_b64.empty()) {
    return Unauthenticated("token has an empty part");
  }

  // All three decoded parts fit here: each is at most 3/4 of its encoded size (+2).
  unsigned char decoded[Base64UrlDecodedSize(kMaxTokenBytes) + 6];
  unsigned char* const header = decoded;
  const std::optional<size_t> header_len = Base64UrlDecode(header_b64, header);
  if (!header_len) return Unauthenticated("token header is not valid base64url");
  unsigned char* const sig = header + *header_len;
  const std::optional<size_t> sig_len = Base64UrlDecode(sig_b64, sig);
  if (!sig_len) return Unauthenticated("token signature is not valid base64url");
  unsigned char* const payload = sig + *sig_len;
  const std::optional<size_t> payload_len = Base64UrlDecode(payload_b64, payload);
  if (!payload_len) return Unauthenticated("token payload is not valid base64url");

  // Header and payload JSON live in one stack arena; large ones spill to the heap.
  unsigned char arena[4096];
  json::monotonic_resource mr(arena, sizeof arena);
  json::storage_ptr sp(&mr);

  const json::value header_value =
      ParseJson(std::string_view(reinterpret_cast<const char*>(header), *header_len), sp);
  const json::object* hdr = header_value.if_object();
  if (hdr == nullptr) return Unauthenticated("token header is not a JSON object");
  const json::value* alg = hdr->if_contains("alg");
  if (alg == nullptr || !alg->is_string()) return Unauthenticated("token header lacks alg");
  if (ToStd(alg->get_string()) != AlgorithmName(key_->alg)) {
    return Unauthenticated("token algorithm not accepted");
  }
  if (hdr->contains("crit")) return Unauthenticated("token has unsupported critical headers");

  if (!VerifySignature(*key_, token.substr(0, dot2), sig, *sig_len)) {
    return Unauthenticated("invalid token signature");
  }

  const json::value payload_value =
      ParseJson(std::string_view(reinterpret_cast<const char*>(payload), *payload_len), sp);
  const json::object* claims = payload_value.if_object();
  if (claims == nullptr) return Unauthenticated("token payload is not a JSON object");
  return ReadClaims(*claims, now_ms);
}

// ------------------------------------------------------------------------------ JwtSigner

JwtSigner::JwtSigner(std::unique_ptr<KeyMaterial> key) : key_(std::move(key)) {}
JwtSigner::~JwtSigner() = default;

Result<std::unique_ptr<JwtSigner>> JwtSigner::ForHmacSecret(std::string secret) {
  Result<std::unique_ptr<KeyMaterial>> km = MakeHmacKey(secret);
  OPENSSL_cleanse(secret.data(), secret.size());
  if (!km) return std::move(km).error();
  return std::unique_ptr<JwtSigner>(new JwtSigner(std::move(*km)));
}

Result<std::unique_ptr<JwtSigner>> JwtSigner::ForPrivateKeyPem(std::string_view pem) {
  Result<std::unique_ptr<KeyMaterial>> km = LoadPem(pem, /*private_key=*/true);
  if (!km) return std::move(km).error();
  return std::unique_ptr<JwtSigner>(new JwtSigner(std::move(*km)));
}

Algorithm JwtSigner::algorithm() const { return key_->alg; }

Result<std::string> JwtSigner::Sign(const Claims& claims) const {
  if (claims.subject.empty()) return InvalidRequest("subject must not be empty");
  if (!IsValidIdClaim(claims.workspace_id)) {
    return InvalidRequest("workspace_id must be 1-64 chars of [A-Za-z0-9_.-]");
  }
  if (!claims.job_id.empty() && !IsValidIdClaim(claims.job_id)) {
    return InvalidRequest("job_id must be 1-64 chars of [A-Za-z0-9_.-]");
  }
  if (claims.expires_at <= 0) return InvalidRequest("expires_at must be set");
  for (const std::string& s : claims.scopes) {
    if (s.empty() || s.find_first_of(" \t\r\n") != std::string::npos) {
      return InvalidRequest("scope names must be non-empty and hold no whitespace");
    }
  }
  const auto seconds = [](TimeMs ms) { return static_cast<int64_t>(ms / 1000); };
  const auto in_range = [](TimeMs ms) { return ms / 1000 <= kMaxNumericDate && ms >= 0; };
  if (!in_range(claims.expires_at) || !in_range(claims.issued_at) || !in_range(claims.not_before)) {
    return InvalidRequest("times must be between 1970 and 9999");
  }

  json::object payload;
  payload["sub"] = claims.subject;
  payload["workspace_id"] = claims.workspace_id;
  json::array scopes;
  for (const std::string& s : claims.scopes) scopes.emplace_back(s);
  payload["scopes"] = std::move(scopes);
  if (!claims.job_id.empty()) payload["job_id"] = claims.job_id;
  if (claims.issued_at != 0) payload["iat"] = seconds(claims.issued_at);
  if (claims.not_before != 0) payload["nbf"] = seconds(claims.not_before);
  payload["exp"] = seconds(claims.expires_at);

  std::string token = Base64UrlEncode(HeaderJson(key_->alg));
  token += '.';
  token += Base64UrlEncode(json::serialize(payload));
  const std::string_view signed_part = token;

  std::string sig;
  if (key_->alg == Algorithm::kHS256) {
    sig.resize(kHs256Bytes);
    if (!ComputeHmac(*key_, signed_part, reinterpret_cast<unsigned char*>(sig.data()))) {
      return MakeError(ErrorCode::kInternal, "HMAC failed");
    }
  } else {
    OwnedMdCtx ctx(EVP_MD_CTX_new());
    size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(signed_part.data());
    bool ok = ctx.p != nullptr &&
              EVP_DigestSignInit(ctx.p, nullptr, key_->sha256, nullptr, key_->pkey) == 1 &&
              EVP_DigestSign(ctx.p, nullptr, &len, data, signed_part.size()) == 1;
    std::string der(len, '\0');
    ok = ok && EVP_DigestSign(ctx.p, reinterpret_cast<unsigned char*>(der.data()), &len, data,
                              signed_part.size()) == 1;
    if (!ok) {
      ERR_clear_error();
      return MakeError(ErrorCode::kInternal, "signing failed");
    }
    der.resize(len);
    if (key_->alg == Algorithm::kES256) {
      sig = EcdsaDerToRaw(reinterpret_cast<const unsigned char*>(der.data()), der.size());
      if (sig.empty()) {
        ERR_clear_error();
        return MakeError(ErrorCode::kInternal, "ECDSA signature conversion failed");
      }
    } else {
      sig = std::move(der);
    }
  }
  token += '.';
  token += Base64UrlEncode(sig);
  return token;
}

// --------------------------------------------------------------------------- ParseDuration

Result<int64_t> ParseDuration(std::string_view s) {
  if (s.empty()) return InvalidRequest("duration is empty");
  int64_t unit_ms = 1000;
  std::string_view digits = s;
  switch (s.back()) {
    case 's':
      unit_ms = 1000;
      digits.remove_suffix(1);
      break;
    case 'm':
      unit_ms = int64_t{60} * 1000;
      digits.remove_suffix(1);
      break;
    case 'h':
      unit_ms = int64_t{60} * 60 * 1000;
      digits.remove_suffix(1);
      break;
    case 'd':
      unit_ms = int64_t{24} * 60 * 60 * 1000;
      digits.remove_suffix(1);
      break;
    default:
      break;
  }
  if (digits.empty()) return InvalidRequest("duration needs a number, e.g. 30m, 1h, 2d");
  int64_t n = 0;
  for (const char c : digits) {
    if (c < '0' || c > '9') return InvalidRequest("duration must look like 90, 45s, 30m, 1h or 2d");
    const int64_t d = c - '0';
    if (n > (std::numeric_limits<int64_t>::max() - d) / 10) {
      return InvalidRequest("duration too large");
    }
    n = n * 10 + d;
  }
  if (n == 0) return InvalidRequest("duration must be positive");
  if (n > std::numeric_limits<int64_t>::max() / unit_ms)
    return InvalidRequest("duration too large");
  return n * unit_ms;
}

}  // namespace overseer::auth
