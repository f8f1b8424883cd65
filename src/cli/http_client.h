// A small synchronous HTTP/1.1 client of the daemon, for the CLI and the integration
// tests. One keep-alive connection, reconnected on demand. Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace overseer::cli {

struct HttpResult {
  unsigned status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Header value by name, case-insensitive; "" if absent.
  std::string Header(const std::string& name) const;
};

class HttpClient {
 public:
  // base_url: "http://127.0.0.1:8080" (http only; no TLS in this version).
  explicit HttpClient(std::string base_url);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void SetToken(std::string token) { token_ = std::move(token); }
  void SetTimeout(std::chrono::milliseconds t) { timeout_ = t; }

  // Sends one request; `headers` are added as given (e.g. Idempotency-Key). A body is sent
  // as application/json unless a Content-Type header is given. kUnavailable when the
  // daemon cannot be reached (message says so), kInvalidRequest for a bad base URL.
  Result<HttpResult> Send(const std::string& method, const std::string& target,
                          const std::string& body = "",
                          const std::vector<std::pair<std::string, std::string>>& headers = {});

  const std::string& base_url() const { return base_url_; }

 private:
  struct Conn;
  std::string base_url_;
  std::string host_;
  std::string port_;
  std::string token_;
  std::chrono::milliseconds timeout_{std::chrono::seconds(330)};
  std::unique_ptr<Conn> conn_;
};

}  // namespace overseer::cli
