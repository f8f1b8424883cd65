// Strict base64url (RFC 4648 §5) without padding, as JWS compact serialization uses: JWTs
// (auth) and page cursors (api). Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace overseer {

// Encodes `data` as unpadded base64url.
std::string Base64UrlEncode(std::string_view data);

// Bytes `Base64UrlDecode` writes for an input of `encoded_len` chars (an upper bound).
constexpr size_t Base64UrlDecodedSize(size_t encoded_len) { return encoded_len / 4 * 3 + 2; }

// Decodes `in` into `out` (room for Base64UrlDecodedSize(in.size()) bytes); returns the
// byte count, or nullopt if `in` holds padding or any char outside [A-Za-z0-9_-], has a
// length of 1 mod 4, or has non-zero trailing bits (only the canonical encoding passes).
std::optional<size_t> Base64UrlDecode(std::string_view in, unsigned char* out);

// Convenience form returning a string; nullopt as above.
std::optional<std::string> Base64UrlDecodeToString(std::string_view in);

}  // namespace overseer
