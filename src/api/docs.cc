#include "api/docs.h"

#include <boost/asio/awaitable.hpp>
#include <span>
#include <string>
#include <string_view>

#include "api/error_mapping.h"
#include "common/embedded.h"
#include "common/utf8.h"

namespace overseer::api {
namespace asio = boost::asio;
using http::Request;
using http::Response;

namespace {

// The document and the page change with the binary: revalidate each time. The bundled
// scripts are requested with ?v=<swagger-ui version>, so a day of caching is safe.
constexpr std::string_view kNoCache = "no-cache";
constexpr std::string_view kAssetCache = "public, max-age=86400";
// Swagger UI needs inline styles and data: images; everything else comes from here.
constexpr std::string_view kDocsCsp =
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

const embedded::File* Find(std::span<const embedded::File> files, std::string_view name) {
  for (const embedded::File& f : files) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string_view ContentTypeOf(std::string_view name) {
  auto ends = [name](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".png")) return "image/png";
  if (ends(".json")) return "application/json";
  if (ends(".yaml")) return "application/yaml; charset=utf-8";
  return "application/octet-stream";
}

// `file` is one of the embedded files (static storage); the response copies its bytes.
asio::awaitable<Response> ServeFile(const embedded::File* file, std::string_view cache) {
  Response r;
  r.content_type = std::string(ContentTypeOf(file->name));
  r.body = std::string(file->data);
  r.headers.emplace_back("Cache-Control", std::string(cache));
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  if (file->name.size() >= 5 && file->name.substr(file->name.size() - 5) == ".html") {
    r.headers.emplace_back("Content-Security-Policy", std::string(kDocsCsp));
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
  }
  co_return r;
}

asio::awaitable<Response> NotFound(std::string name, std::string request_id) {
  Error e = MakeError(ErrorCode::kNotFound, "no such documentation file");
  e.With("file", EchoText(name));
  co_return ErrorResponse(e, request_id);
}

// GET /docs/{file}: a file of the Swagger UI page.
asio::awaitable<Response> ServeAsset(Request& req) {
  const std::string_view name = req.Param("file");
  const embedded::File* f = Find(embedded::swagger_ui(), name);
  if (f == nullptr) return NotFound(std::string(name), req.request_id);
  const bool page = name == "index.html" || name == "swagger-initializer.js";
  return ServeFile(f, page ? kNoCache : kAssetCache);
}

}  // namespace

void RegisterDocRoutes(http::Router& router) {
  // api/docs.cmake fails the build if a file is missing; were one absent anyway, its route
  // is left out (404) rather than answering an empty body.
  http::RouteOptions any_body;
  any_body.require_json_body = false;
  for (std::string_view name : {"openapi.yaml", "openapi.json"}) {
    if (const embedded::File* f = Find(embedded::openapi_docs(), name)) {
      router.Add(
          "GET", "/" + std::string(name), [f](Request&) { return ServeFile(f, kNoCache); },
          any_body);
    }
  }
  if (const embedded::File* index = Find(embedded::swagger_ui(), "index.html")) {
    router.Add(
        "GET", "/docs", [index](Request&) { return ServeFile(index, kNoCache); }, any_body);
  }
  router.Add(
      "GET", "/docs/{file}", [](Request& req) { return ServeAsset(req); }, any_body);
}

}  // namespace overseer::api
