// The bytes of a response head, written by hand (cheaper than Beast's serializer), shared
// by the buffered path of the server and the streaming writer. Any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/request.h"

namespace overseer::http {

// True for "/api" and everything under "/api/" (responses there get Cache-Control: no-store).
bool IsApiPath(std::string_view path);

// A header name or value we may put on the wire: no CR, LF or NUL (no injection).
bool SafeHeaderText(std::string_view s);

// Appends `n` in decimal.
void AppendDecimal(std::string& out, uint64_t n);

// Serializes the status line and headers of `res` into `out` (cleared first): Server,
// Content-Type, X-Request-ID, Cache-Control: no-store if `api`, the handler's extra headers (they
// replace the standard ones of the same name; unsafe ones are dropped), Connection, and
// the framing: Content-Length: `content_length`, or with nullopt (a stream) Transfer-Encoding:
// chunked for HTTP/1.1 and nothing for HTTP/1.0 (the close ends the body).
void SerializeHead(const Request& req, const Response& res, bool keep_alive, bool api,
                   std::optional<uint64_t> content_length, std::string& out);

}  // namespace overseer::http
