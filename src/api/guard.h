// Authentication and authorization of API requests (SPEC §5), and the idempotency wrapper
// of POST routes (SPEC §6). Loop thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string_view>

#include "api/routes.h"
#include "auth/jwt.h"
#include "http/server.h"

namespace overseer::api {

// Verifies the bearer token and the scope. kUnauthenticated, kInsufficientScope.
Result<auth::Principal> Authenticate(const ApiContext& ctx, const http::Request& req,
                                     std::string_view scope);

using ProtectedHandler =
    std::function<boost::asio::awaitable<http::Response>(http::Request&, const auth::Principal&)>;

// A handler that authenticates first, then (for POST, with an Idempotency-Key header)
// replays or records the response.
http::Handler Protect(ApiContext& ctx, std::string_view scope, ProtectedHandler handler);

}  // namespace overseer::api
