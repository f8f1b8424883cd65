#include "api/json_codec.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "api/codec_util.h"
#include "common/base64url.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace json = boost::json;

namespace codec {

json::value TimeOrNull(TimeMs t) {
  if (t == 0) return nullptr;
  return json::value(FormatRfc3339(t));
}

json::value ParseStoredJson(const std::string& text) {
  if (text.empty()) return nullptr;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return nullptr;
  return v;
}

Error Invalid(std::string field, const std::string& message) {
  Error e = MakeError(ErrorCode::kInvalidRequest, field.empty() ? message : field + ": " + message);
  if (!field.empty()) e.With("field", std::move(field));
  return e;
}

bool IsPrintable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u != 0x7f;
  });
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

Result<json::object> ParseObject(std::string_view body) {
  boost::system::error_code ec;
  json::parse_options opts;
  opts.max_depth = 32;
  json::value v = json::parse(body, ec, {}, opts);
  if (ec) return Invalid("", "body is not valid JSON: " + ec.message());
  if (!v.is_object()) return Invalid("", "body must be a JSON object");
  return std::move(v.as_object());
}

Result<int64_t> GetInt(const json::value& v, const std::string& field, int64_t min, int64_t max) {
  int64_t n = 0;
  if (v.is_int64()) {
    n = v.as_int64();
  } else if (v.is_uint64()) {
    n = v.as_uint64() > static_cast<uint64_t>(max) ? max + 1 : static_cast<int64_t>(v.as_uint64());
  } else if (v.is_double() &&
             v.as_double() == static_cast<double>(static_cast<int64_t>(v.as_double()))) {
    n = static_cast<int64_t>(v.as_double());
  } else {
    return Invalid(field, "must be an integer");
  }
  if (n < min || n > max) {
    Error e =
        Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    e.With("min", min).With("max", max);
    return e;
  }
  return n;
}

Result<double> GetNumber(const json::value& v, const std::string& field, double min, double max) {
  if (!v.is_number()) return Invalid(field, "must be a number");
  const double d = v.to_number<double>();
  if (!(d >= min && d <= max)) {
    return Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return d;
}

}  // namespace codec

using codec::GetInt;
using codec::Invalid;
using codec::ParseObject;

Result<TerminateOptions> ParseTerminateOptions(std::string_view body) {
  TerminateOptions opts;
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return opts;
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    if (key == "grace_seconds") {
      auto n = GetInt(kv.value(), key, 0, Limits::kGraceMax);
      if (!n) return n.error();
      opts.grace_seconds = static_cast<int>(*n);
    } else if (key == "wait") {
      if (!kv.value().is_bool()) return Invalid(key, "must be a boolean");
      opts.wait = kv.value().as_bool();
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  return opts;
}

Status ParseEmptyBody(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return OkStatus();
  Result<json::object> obj = ParseObject(body);
  if (!obj) return obj.error();
  if (!obj->empty()) return Invalid(EchoText(obj->begin()->key()), "unknown field");
  return OkStatus();
}

Status CheckQueryNames(const http::Request& req, std::initializer_list<std::string_view> allowed) {
  for (const auto& [name, value] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return Invalid(EchoText(name), "unknown query parameter");
    }
  }
  return OkStatus();
}

Result<int> QueryInt(const http::Request& req, std::string_view name, int def, int min, int max) {
  std::optional<std::string_view> v = req.Query(name);
  if (!v) return def;
  const std::string field(name);
  if (v->empty() || v->size() > 10 ||
      !std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Invalid(field, "must be an integer");
  }
  const long long n = std::stoll(std::string(*v));
  if (n < min || n > max) {
    Error e =
        Invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    e.With("min", min).With("max", max);
    return e;
  }
  return static_cast<int>(n);
}

std::string EncodeCursor(const std::string& last_id) { return Base64UrlEncode(last_id); }

Result<std::string> DecodeCursor(std::string_view cursor, std::string_view id_prefix) {
  if (cursor.size() > 64) return Invalid("cursor", "is not a cursor this API returned");
  std::optional<std::string> id = Base64UrlDecodeToString(cursor);
  if (!id || !IsWellFormedId(*id, id_prefix)) {
    return Invalid("cursor", "is not a cursor this API returned");
  }
  return *std::move(id);
}

}  // namespace overseer::api
