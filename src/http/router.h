// Router: maps (method, path) to a handler. Patterns are literal segments and "{name}"
// segments, matched segment by segment on string_views (no regex). Built before the
// server starts, then read-only; Match runs on the loop thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/request.h"

namespace overseer::http {

using Handler = std::function<boost::asio::awaitable<Response>(Request&)>;

class ResponseStream;
// A streaming handler: writes its response to `out` over time (see http/stream.h) and
// ends it by returning.
using StreamHandler = std::function<boost::asio::awaitable<void>(Request&, ResponseStream& out)>;

// Options of one route.
struct RouteOptions {
  // False: the server checks nothing about Content-Type. True (default): a non-empty
  // body whose Content-Type is not application/json gets 415 UNSUPPORTED_MEDIA_TYPE.
  bool require_json_body = true;
};

// A matched route: its handler (exactly one of the two) and options. Points into the Router.
struct RouteMatch {
  const Handler* handler = nullptr;
  const StreamHandler* stream_handler = nullptr;
  RouteOptions options;
};

class Router {
 public:
  // Adds a route. `pattern` is "/api/supervisor/workers/{id}/pause": literal segments
  // and whole-segment "{name}" parameters. A later duplicate (method, pattern) is
  // ignored in favour of the first. Patterns are matched in the order added.
  void Add(std::string_view method, std::string_view pattern, Handler handler,
           RouteOptions options = {});
  // Adds a streaming route (same rules as Add). HEAD does not fall back to it.
  void AddStream(std::string_view method, std::string_view pattern, StreamHandler handler,
                 RouteOptions options = {});

  // Matches req.method and req.path (already percent-decoded); HEAD without its own
  // route uses the GET route (unless that one streams). On success fills
  // req.path_params and returns the handler (nullptr for a streaming route). Errors: kNotFound if
  // no pattern matches the path; kMethodNotAllowed with details {allowed: "GET, POST"} if the path
  // matches but the method does not.
  Result<const Handler*> Match(Request& req) const;

  // As Match, also returning the route options.
  Result<RouteMatch> MatchRoute(Request& req) const;

  size_t size() const { return routes_.size(); }

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    Handler handler;
    StreamHandler stream_handler;  // set instead of `handler` for a streaming route
    RouteOptions options;
  };
  void AddRoute(std::string_view method, std::string_view pattern, Handler handler,
                StreamHandler stream_handler, RouteOptions options);
  static RouteMatch MatchOf(const Route& route);
  // True if `path` matches `route`; fills `params` if non-null.
  static bool PathMatches(const Route& route, std::string_view path,
                          std::vector<std::pair<std::string, std::string>>* params);

  std::vector<Route> routes_;
};

}  // namespace overseer::http
