// A thin wrapper around cli::HttpClient for the integration tests: parsed JSON replies,
// assertion helpers on SPEC §4 error bodies, and contract capture (when the environment
// variable OVERSEER_CONTRACT_CAPTURE names a file, every exchange is appended to it as one
// JSON line {method, path, route, status, content_type, body, body_valid_utf8}; `route` is
// the OpenAPI path template, or null for a path outside the API). One Api per thread.
#pragma once

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/http_client.h"

namespace overseer::it {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Reply {
  unsigned status = 0;  // 0: no answer (transport error in `body`)
  std::string body;
  boost::json::value json;  // null unless the body is JSON
  Headers headers;
  std::string Header(const std::string& name) const;
  // json["a"]["b"]... or null.
  const boost::json::value& At(std::initializer_list<std::string_view> path) const;
  std::string Str(std::initializer_list<std::string_view> path) const;  // "" unless a string
  int64_t Int(std::initializer_list<std::string_view> path) const;      // -1 unless a number
};

// "/api/jobs/j_123/tree?x=1" -> "/api/jobs/{id}/tree"; null for unknown paths.
boost::json::value RouteTemplate(const std::string& path);

class Api {
 public:
  Api(std::string base_url, std::string token);
  void SetToken(std::string token) { token_ = std::move(token); }
  const std::string& token() const { return token_; }

  Reply Send(const std::string& method, const std::string& target, const std::string& body = "",
             const Headers& headers = {});
  Reply Get(const std::string& target, const Headers& headers = {}) {
    return Send("GET", target, "", headers);
  }
  Reply Post(const std::string& target, const std::string& body, const Headers& headers = {}) {
    return Send("POST", target, body, headers);
  }
  Reply Post(const std::string& target, const char* body, const Headers& headers = {}) {
    return Send("POST", target, body, headers);
  }
  Reply Post(const std::string& target, const boost::json::value& body,
             const Headers& headers = {}) {
    return Send("POST", target, boost::json::serialize(body), headers);
  }

 private:
  std::string base_url_;
  std::string token_;
  std::unique_ptr<cli::HttpClient> client_;
};

// Asserts `r` is a SPEC §4 error: status, exact code, a non-empty message, an object details.
::testing::AssertionResult IsError(const Reply& r, unsigned status, const std::string& code);

// "status 404, body ..." for failure messages.
std::string Describe(const Reply& r);

}  // namespace overseer::it
