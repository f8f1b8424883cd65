// A list of strings as a JSON array ("[\"j_1\",\"j_2\"]"), the storage form of
// Job::depends_on. Backend-neutral (PostgreSQL can keep the same text). Pure; any thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace overseer::store {

// Always valid JSON: quotes, backslashes and control characters are escaped.
std::string EncodeJsonStringList(const std::vector<std::string>& items);

// The inverse of EncodeJsonStringList; accepts any JSON array of strings (whitespace, every
// escape incl. \uXXXX surrogate pairs). "" decodes to an empty list. kInternal if malformed.
Result<std::vector<std::string>> DecodeJsonStringList(std::string_view text);

}  // namespace overseer::store
