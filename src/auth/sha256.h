// SHA-256 (OpenSSL) as lowercase hex: request fingerprints (idempotency) and the instance id
// of a state directory. Pure; any thread.
#pragma once

#include <string>
#include <string_view>

namespace overseer::auth {

// The 64 lowercase hex digits of SHA-256(`data`).
std::string Sha256Hex(std::string_view data);

}  // namespace overseer::auth
