#include "cli/http_client.h"

#include <strings.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace overseer::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;

struct HttpClient::Conn {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  bool connected = false;
};

std::string HttpResult::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

HttpClient::HttpClient(std::string base_url) : base_url_(std::move(base_url)) {
  std::string rest = base_url_;
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) {
    host_ = rest;
    port_ = "80";
  } else {
    host_ = rest.substr(0, colon);
    port_ = rest.substr(colon + 1);
  }
  if (host_.size() > 2 && host_.front() == '[') host_ = host_.substr(1, host_.size() - 2);
}

HttpClient::~HttpClient() = default;

Result<HttpResult> HttpClient::Send(
    const std::string& method, const std::string& target, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers) {
  if (base_url_.rfind("http://", 0) != 0 || host_.empty()) {
    return MakeError(ErrorCode::kInvalidRequest,
                     "OVERSEER_URL must look like http://127.0.0.1:8080 (got '" + base_url_ + "')");
  }
  for (int tries = 0; tries < 2; ++tries) {
    if (!conn_ || !conn_->connected) {
      conn_ = std::make_unique<Conn>();
      boost::system::error_code ec;
      asio::ip::tcp::resolver resolver(conn_->io);
      auto results = resolver.resolve(host_, port_, ec);
      if (!ec) {
        conn_->stream.expires_after(std::chrono::seconds(10));
        conn_->stream.connect(results, ec);
      }
      if (ec) {
        return MakeError(ErrorCode::kUnavailable,
                         "cannot reach the daemon at " + base_url_ + ": " + ec.message() +
                             " (is `overseer serve` running? set OVERSEER_URL)");
      }
      conn_->connected = true;
    }
    bhttp::request<bhttp::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    req.set(bhttp::field::host, host_ + ":" + port_);
    req.set(bhttp::field::user_agent, "overseer-cli");
    if (!token_.empty()) req.set(bhttp::field::authorization, "Bearer " + token_);
    bool has_ct = false;
    for (const auto& [k, v] : headers) {
      if (strcasecmp(k.c_str(), "Content-Type") == 0) has_ct = true;
      req.set(k, v);
    }
    if (!body.empty() && !has_ct) req.set(bhttp::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();

    boost::system::error_code ec;
    conn_->stream.expires_after(timeout_);
    bhttp::write(conn_->stream, req, ec);
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 << 20);
    parser.header_limit(64 << 10);
    if (!ec) bhttp::read(conn_->stream, conn_->buffer, parser, ec);
    if (ec) {
      conn_->connected = false;
      // A keep-alive connection the server closed: retry once on a fresh one.
      if (tries == 0 && (ec == bhttp::error::end_of_stream || ec == asio::error::connection_reset ||
                         ec == asio::error::broken_pipe || ec == asio::error::eof)) {
        continue;
      }
      return MakeError(ErrorCode::kUnavailable,
                       "request to " + base_url_ + target + " failed: " + ec.message());
    }
    auto res = parser.release();
    HttpResult out;
    out.status = res.result_int();
    out.body = std::move(res.body());
    for (const auto& f : res)
      out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    if (!res.keep_alive()) conn_->connected = false;
    return out;
  }
  return MakeError(ErrorCode::kUnavailable, "cannot reach the daemon at " + base_url_);
}

}  // namespace overseer::cli
