// Request and Response: what a handler sees and returns, free of Beast message types
// except the header container. Plus the target parsing helpers the server uses
// (percent-decoding, query splitting). A Request belongs to one session; loop thread only.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace overseer::http {

struct Request {
  std::string method;                                      // "GET"
  std::string target;                                      // raw target, "/api/jobs?limit=2"
  std::string path;                                        // percent-decoded path, "/api/jobs"
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
  std::vector<std::pair<std::string, std::string>> path_params;  // from the route pattern
  std::string body;
  std::string request_id;  // X-Request-ID echoed (if 1..128 printable ASCII) or generated
  std::string remote;      // "127.0.0.1:54321"
  boost::beast::http::fields headers;  // as received (moved out of the parser)
  unsigned version = 11;               // 11 for HTTP/1.1, 10 for HTTP/1.0

  // Header value by name, case-insensitive; "" if absent (first one if repeated).
  std::string_view Header(std::string_view name) const;
  // First value of query parameter `name`; nullopt if absent.
  std::optional<std::string_view> Query(std::string_view name) const;
  // Path parameter from the route pattern ("{id}" -> Param("id")); "" if absent.
  std::string_view Param(std::string_view name) const;
};

struct Response {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  // The error this response reports, if it is one (set by the api's error renderer, never
  // sent): what the idempotency layer decides on, rather than the bare status.
  std::optional<ErrorCode> error_code;
};

// Percent-decodes one path ("/a%20b/c" -> "/a b/c"). kInvalidRequest for a malformed
// escape, an encoded '/' (%2F) or an encoded NUL. '+' stays '+'.
Result<std::string> DecodePath(std::string_view raw_path);

// Splits and decodes "a=1&b=x+y" into {{"a","1"},{"b","x y"}} ('+' is a space; a key
// without '=' gets ""; empty pieces are skipped). kInvalidRequest for a malformed escape.
Status ParseQuery(std::string_view raw_query,
                  std::vector<std::pair<std::string, std::string>>& out);

// Checks the message-framing headers of a request whose header section has been parsed
// (RFC 9112 §6.1-§6.3), strictly, so that no intermediary can frame it differently:
// - Transfer-Encoding, if present, must be one field whose value is exactly `chunked`
//   (case-insensitive, optional surrounding whitespace). No other transfer coding is
//   supported, so any other list (`gzip, chunked`, `chunked, identity`, `identity`) is
//   refused; so is Transfer-Encoding together with Content-Length, or in HTTP/1.0.
// - Content-Length, if present, must be one field of decimal digits: no sign, no list,
//   no second field (not even one with the same value).
// kInvalidRequest naming the header (details.header) otherwise. The server answers such
// a request 400 and closes the connection: nothing after it is read as a request.
Status CheckFraming(const boost::beast::http::fields& headers, unsigned version);

// True if `id` is acceptable to echo as X-Request-ID: 1..128 printable ASCII (0x20..0x7e).
bool IsValidRequestId(std::string_view id);

// True if `content_type` is application/json, case-insensitive, parameters allowed
// ("application/json; charset=utf-8").
bool IsJsonContentType(std::string_view content_type);

}  // namespace overseer::http
