// Helpers shared by the JSON codecs of the api (json_codec.cc and the per-resource
// *_codec.cc files): strict number reading, the 400 naming a field, stored JSON and
// timestamps for responses. Internal to src/api. Any thread.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/time.h"

namespace overseer::api::codec {

// An RFC 3339 string, or null for 0 (not set).
boost::json::value TimeOrNull(TimeMs t);
// JSON text stored by the service, parsed; null if empty or unparsable.
boost::json::value ParseStoredJson(const std::string& text);
// kInvalidRequest "<field>: <message>" with details.field (no field: the message alone).
Error Invalid(std::string field, const std::string& message);
// No control characters (below 0x20, or DEL).
bool IsPrintable(std::string_view s);
bool HasNul(std::string_view s);
// A request body that must be one JSON object (nesting at most 32 deep).
Result<boost::json::object> ParseObject(std::string_view body);
// An integer in [min, max] (a whole double counts); details {min, max} when out of range.
Result<int64_t> GetInt(const boost::json::value& v, const std::string& field, int64_t min,
                       int64_t max);
// Any number in [min, max].
Result<double> GetNumber(const boost::json::value& v, const std::string& field, double min,
                         double max);

}  // namespace overseer::api::codec
