// UTF-8 for text that reaches a response from a request (SPEC §3: bodies are UTF-8 JSON).
// Boost.JSON's serializer writes a string's bytes through unchecked, so request bytes put
// into a body (a percent-decoded path or query name, a header) must be made well-formed
// first, and a cut must fall between characters. Pure functions; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace overseer {

// True if `s` is well-formed UTF-8 (Unicode §3.9, table 3-7: no overlong form, no
// surrogate U+D800..U+DFFF, nothing above U+10FFFF, no truncated sequence).
bool IsValidUtf8(std::string_view s);

// `s` with each ill-formed part replaced by U+FFFD: one U+FFFD per maximal subpart (Unicode
// §3.9 "U+FFFD substitution of maximal subparts", as the WHATWG decoder does). Well-formed
// input comes back unchanged.
std::string ValidUtf8(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` bytes that does not end inside a
// character. Well-formed input gives a well-formed prefix.
std::string_view TruncateUtf8(std::string_view s, size_t max_bytes);

// How many bytes of request text an error echoes (a field, query name or id).
inline constexpr size_t kEchoMaxBytes = 64;

// Request text made safe to echo in a response: ValidUtf8, then TruncateUtf8(max_bytes).
std::string EchoText(std::string_view s, size_t max_bytes = kEchoMaxBytes);

}  // namespace overseer
