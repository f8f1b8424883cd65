#include "service/runtimes/stream_json.h"

#include <boost/json/parse.hpp>
#include <boost/system/error_code.hpp>
#include <cmath>

namespace overseer::service::stream_json {

namespace json = boost::json;

namespace {
constexpr int64_t kCountMax = int64_t{1} << 50;
}  // namespace

const json::object* ParseLine(std::string_view line, json::value& out, AgentUsage& u) {
  ++u.lines;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kLineMaxBytes) {
    ++u.oversized_lines;
    ++u.malformed_lines;
    return nullptr;
  }
  boost::system::error_code ec;
  out = json::parse(line, ec);
  if (ec || !out.is_object()) {
    out = nullptr;
    ++u.malformed_lines;
    return nullptr;
  }
  return &out.get_object();
}

const json::object* Object(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_object() : nullptr;
}

const json::array* Array(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? v->if_array() : nullptr;
}

std::string_view String(const json::value& v) {
  const json::string* s = v.if_string();
  return s != nullptr ? std::string_view(s->data(), s->size()) : std::string_view();
}

std::string_view String(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr ? String(*v) : std::string_view();
}

int64_t Count(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) return 0;
  if (const int64_t* i = v->if_int64()) return *i >= 0 && *i <= kCountMax ? *i : 0;
  if (const uint64_t* u = v->if_uint64()) {
    return *u <= static_cast<uint64_t>(kCountMax) ? static_cast<int64_t>(*u) : 0;
  }
  if (const double* d = v->if_double()) {
    if (std::isfinite(*d) && *d >= 0 && *d <= static_cast<double>(kCountMax) &&
        std::floor(*d) == *d) {
      return static_cast<int64_t>(*d);
    }
  }
  return 0;
}

std::optional<double> Number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  double d = 0;
  if (const int64_t* i = v->if_int64()) {
    d = static_cast<double>(*i);
  } else if (const uint64_t* u = v->if_uint64()) {
    d = static_cast<double>(*u);
  } else {
    d = v->get_double();
  }
  if (!std::isfinite(d) || d < 0) return std::nullopt;
  return d;
}

bool True(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v != nullptr && v->is_bool() && v->get_bool();
}

}  // namespace overseer::service::stream_json
