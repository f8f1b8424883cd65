#include "http/wire.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

namespace overseer::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

bool HasHeader(const Response& res, std::string_view name) {
  for (const auto& [k, v] : res.headers) {
    if (beast::iequals(k, name)) return true;
  }
  return false;
}

void AppendHeader(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

}  // namespace

bool IsApiPath(std::string_view path) { return path == "/api" || path.substr(0, 5) == "/api/"; }

bool SafeHeaderText(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

void AppendDecimal(std::string& out, uint64_t n) {
  char buf[24];
  size_t i = sizeof(buf);
  do {
    buf[--i] = static_cast<char>('0' + n % 10);
    n /= 10;
  } while (n != 0);
  out.append(buf + i, sizeof(buf) - i);
}

void SerializeHead(const Request& req, const Response& res, bool keep_alive, bool api,
                   std::optional<uint64_t> content_length, std::string& out) {
  out.clear();
  out += req.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
  AppendDecimal(out, res.status);
  out += ' ';
  const auto reason = bhttp::obsolete_reason(bhttp::int_to_status(res.status));
  out.append(reason.data(), reason.size());
  out += "\r\n";
  if (!HasHeader(res, "Server")) AppendHeader(out, "Server", "overseer");
  if (!HasHeader(res, "Content-Type") && SafeHeaderText(res.content_type)) {
    AppendHeader(out, "Content-Type", res.content_type);
  }
  AppendHeader(out, "X-Request-ID", req.request_id);
  if (api && !HasHeader(res, "Cache-Control")) AppendHeader(out, "Cache-Control", "no-store");
  for (const auto& [name, value] : res.headers) {
    if (name.empty() || !SafeHeaderText(name) || !SafeHeaderText(value) ||
        name.find(':') != std::string::npos || beast::iequals(name, "Content-Length") ||
        beast::iequals(name, "Connection") || beast::iequals(name, "Transfer-Encoding") ||
        beast::iequals(name, "X-Request-ID")) {
      continue;
    }
    AppendHeader(out, name, value);
  }
  if (req.version == 10 && keep_alive) AppendHeader(out, "Connection", "keep-alive");
  if (req.version != 10 && !keep_alive) AppendHeader(out, "Connection", "close");
  if (content_length) {
    out += "Content-Length: ";
    AppendDecimal(out, *content_length);
    out += "\r\n";
  } else if (req.version != 10) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  out += "\r\n";
}

}  // namespace overseer::http
