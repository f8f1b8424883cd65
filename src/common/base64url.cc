#include "common/base64url.h"

#include <array>

namespace overseer {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}

constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

std::string Base64UrlEncode(std::string_view data) {
  std::string out;
  out.reserve((data.size() * 4 + 2) / 3);
  size_t i = 0;
  const auto byte = [&data](size_t k) {
    return static_cast<uint32_t>(static_cast<unsigned char>(data[k]));
  };
  for (; i + 3 <= data.size(); i += 3) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const size_t rest = data.size() - i;
  if (rest == 1) {
    const uint32_t v = byte(i) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
  } else if (rest == 2) {
    const uint32_t v = byte(i) << 16 | byte(i + 1) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
  }
  return out;
}

std::optional<size_t> Base64UrlDecode(std::string_view in, unsigned char* out) {
  const size_t rest = in.size() % 4;
  if (rest == 1) return std::nullopt;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const size_t full = in.size() - rest;
  size_t n = 0;
  for (size_t i = 0; i < full; i += 4) {
    const uint32_t a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]],
                   d = kDecode[p[i + 3]];
    if (((a | b | c | d) & 0x80) != 0) return std::nullopt;  // kInvalid has the top bit
    const uint32_t v = a << 18 | b << 12 | c << 6 | d;
    out[n++] = static_cast<unsigned char>(v >> 16);
    out[n++] = static_cast<unsigned char>(v >> 8);
    out[n++] = static_cast<unsigned char>(v);
  }
  if (rest == 0) return n;
  const uint32_t a = kDecode[p[full]], b = kDecode[p[full + 1]];
  const uint32_t c = rest == 3 ? kDecode[p[full + 2]] : 0;
  if (((a | b | c) & 0x80) != 0) return std::nullopt;
  const uint32_t v = a << 18 | b << 12 | c << 6;
  // The bits past the last whole byte must be zero: "QQ" and "QR" must not both decode to
  // "A" (only the canonical encoding passes).
  if (rest == 2 && (v & 0xffff) != 0) return std::nullopt;
  if (rest == 3 && (v & 0xff) != 0) return std::nullopt;
  out[n++] = static_cast<unsigned char>(v >> 16);
  if (rest == 3) out[n++] = static_cast<unsigned char>(v >> 8);
  return n;
}

std::optional<std::string> Base64UrlDecodeToString(std::string_view in) {
  std::string out(Base64UrlDecodedSize(in.size()), '\0');
  std::optional<size_t> n = Base64UrlDecode(in, reinterpret_cast<unsigned char*>(out.data()));
  if (!n) return std::nullopt;
  out.resize(*n);
  return out;
}

}  // namespace overseer
