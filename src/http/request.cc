#include "http/request.h"

#include <boost/beast/core/string.hpp>

namespace overseer::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes `in` into `out`. `plus_is_space` for query strings. Rejects a malformed escape,
// and (for paths) an encoded '/' or NUL.
Status Decode(std::string_view in, bool plus_is_space, bool is_path, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      const bool room = i + 2 < in.size();
      const int hi = room ? HexValue(in[i + 1]) : -1;
      const int lo = room ? HexValue(in[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return MakeError(ErrorCode::kInvalidRequest, "malformed percent-escape in request target");
      }
      const char decoded = static_cast<char>(hi * 16 + lo);
      if (is_path && (decoded == '/' || decoded == '\0')) {
        return MakeError(ErrorCode::kInvalidRequest,
                         decoded == '/' ? "encoded '/' in a path segment is not allowed"
                                        : "encoded NUL in the path is not allowed");
      }
      out.push_back(decoded);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return OkStatus();
}

std::string_view TrimOws(boost::beast::string_view value) {
  std::string_view v(value.data(), value.size());
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

std::string_view Request::Header(std::string_view name) const {
  auto it = headers.find(boost::beast::string_view(name.data(), name.size()));
  if (it == headers.end()) return {};
  const auto v = it->value();
  return std::string_view(v.data(), v.size());
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::string_view Request::Param(std::string_view name) const {
  for (const auto& [k, v] : path_params) {
    if (k == name) return v;
  }
  return {};
}

Result<std::string> DecodePath(std::string_view raw_path) {
  std::string out;
  if (raw_path.find('%') == std::string_view::npos) return std::string(raw_path);
  Status st = Decode(raw_path, /*plus_is_space=*/false, /*is_path=*/true, out);
  if (!st) return std::move(st).error();
  return out;
}

Status ParseQuery(std::string_view raw_query,
                  std::vector<std::pair<std::string, std::string>>& out) {
  while (!raw_query.empty()) {
    const size_t amp = raw_query.find('&');
    const std::string_view piece = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view() : raw_query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    std::string key, value;
    Status st = Decode(piece.substr(0, eq), true, false, key);
    if (!st) return st;
    if (eq != std::string_view::npos) {
      st = Decode(piece.substr(eq + 1), true, false, value);
      if (!st) return st;
    }
    out.emplace_back(std::move(key), std::move(value));
  }
  return OkStatus();
}

Status CheckFraming(const boost::beast::http::fields& headers, unsigned version) {
  namespace bhttp = boost::beast::http;
  auto refuse = [](std::string_view header, std::string message) -> Status {
    Error e = MakeError(ErrorCode::kInvalidRequest, std::move(message));
    e.With("header", std::string(header));
    return e;
  };
  const size_t te_fields = headers.count(bhttp::field::transfer_encoding);
  const size_t cl_fields = headers.count(bhttp::field::content_length);
  if (te_fields > 0) {
    if (cl_fields > 0) {
      return refuse("Transfer-Encoding",
                    "Transfer-Encoding and Content-Length together are not allowed");
    }
    if (version < 11) {
      return refuse("Transfer-Encoding", "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    if (te_fields > 1) return refuse("Transfer-Encoding", "more than one Transfer-Encoding header");
    std::string_view v = TrimOws(headers[bhttp::field::transfer_encoding]);
    if (!boost::beast::iequals(boost::beast::string_view(v.data(), v.size()), "chunked")) {
      return refuse("Transfer-Encoding",
                    "unsupported Transfer-Encoding: only 'chunked' is accepted (no other "
                    "transfer coding is supported)");
    }
    return OkStatus();
  }
  if (cl_fields > 1) return refuse("Content-Length", "more than one Content-Length header");
  if (cl_fields == 1) {
    const std::string_view v = TrimOws(headers[bhttp::field::content_length]);
    const bool digits = !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    if (!digits) return refuse("Content-Length", "Content-Length must be a decimal number");
  }
  return OkStatus();
}

bool IsValidRequestId(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

bool IsJsonContentType(std::string_view content_type) {
  const size_t semi = content_type.find(';');
  std::string_view media = content_type.substr(0, semi);
  while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) media.remove_prefix(1);
  while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) media.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  if (media.size() != kJson.size()) return false;
  for (size_t i = 0; i < media.size(); ++i) {
    char c = media[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kJson[i]) return false;
  }
  return true;
}

}  // namespace overseer::http
