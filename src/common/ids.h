// Opaque, prefixed, time-ordered ids ("w_", "j_", "a_"): prefix + 12 hex digits of
// milliseconds + 4 hex of a per-process counter + 12 hex random = 30 chars. Ids sort in
// creation order within one process, which keyset pagination relies on. Any thread.
#pragma once

#include <string>
#include <string_view>

namespace overseer {

std::string NewId(std::string_view prefix);

// True if `id` has the given prefix, is at most 36 chars, and holds only [0-9a-z_].
bool IsWellFormedId(std::string_view id, std::string_view prefix);

// `n` random bytes, hex-encoded (from the OS CSPRNG).
std::string RandomHex(size_t n_bytes);

}  // namespace overseer
