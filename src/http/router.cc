#include "http/router.h"

#include "common/utf8.h"

namespace overseer::http {
namespace {

// How much of the request path a 404 or 405 message echoes.
constexpr size_t kEchoPathMaxBytes = 256;

// Next segment of `rest` ("/a/b" -> "a", rest "/b"). `rest` starts at a '/'.
std::string_view NextSegment(std::string_view& rest) {
  rest.remove_prefix(1);  // the '/'
  const size_t slash = rest.find('/');
  const std::string_view seg = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  return seg;
}

}  // namespace

void Router::Add(std::string_view method, std::string_view pattern, Handler handler,
                 RouteOptions options) {
  AddRoute(method, pattern, std::move(handler), nullptr, options);
}

void Router::AddStream(std::string_view method, std::string_view pattern, StreamHandler handler,
                       RouteOptions options) {
  AddRoute(method, pattern, nullptr, std::move(handler), options);
}

RouteMatch Router::MatchOf(const Route& route) {
  RouteMatch m;
  if (route.stream_handler) {
    m.stream_handler = &route.stream_handler;
  } else {
    m.handler = &route.handler;
  }
  m.options = route.options;
  return m;
}

void Router::AddRoute(std::string_view method, std::string_view pattern, Handler handler,
                      StreamHandler stream_handler, RouteOptions options) {
  for (const Route& r : routes_) {
    if (r.method == method && r.pattern == pattern) return;
  }
  Route route;
  route.method = std::string(method);
  route.pattern = std::string(pattern);
  route.handler = std::move(handler);
  route.stream_handler = std::move(stream_handler);
  route.options = options;
  std::string_view rest = pattern;
  if (rest.empty() || rest.front() != '/') rest = std::string_view();  // never matches
  while (!rest.empty()) {
    std::string_view seg = NextSegment(rest);
    Segment s;
    if (seg.size() >= 2 && seg.front() == '{' && seg.back() == '}') {
      s.param = true;
      seg = seg.substr(1, seg.size() - 2);
    }
    s.text = std::string(seg);
    route.segments.push_back(std::move(s));
  }
  routes_.push_back(std::move(route));
}

bool Router::PathMatches(const Route& route, std::string_view path,
                         std::vector<std::pair<std::string, std::string>>* params) {
  if (path.empty() || path.front() != '/') return false;
  std::string_view rest = path;
  for (const Segment& s : route.segments) {
    if (rest.empty()) return false;
    const std::string_view seg = NextSegment(rest);
    if (s.param) {
      if (seg.empty()) return false;
      if (params != nullptr) params->emplace_back(s.text, std::string(seg));
    } else if (seg != s.text) {
      return false;
    }
  }
  return rest.empty();
}

Result<RouteMatch> Router::MatchRoute(Request& req) const {
  const Route* path_match = nullptr;
  for (const Route& r : routes_) {
    if (!PathMatches(r, req.path, nullptr)) continue;
    if (r.method == req.method) {
      req.path_params.clear();
      (void)PathMatches(r, req.path, &req.path_params);
      return MatchOf(r);
    }
    if (path_match == nullptr) path_match = &r;
  }
  if (path_match == nullptr) {
    return MakeError(ErrorCode::kNotFound, "no route for " + EchoText(req.path, kEchoPathMaxBytes));
  }
  if (req.method == "HEAD") {  // HEAD falls back to GET (the server sends no body)
    for (const Route& r : routes_) {
      if (r.method != "GET" || r.stream_handler || !PathMatches(r, req.path, nullptr)) continue;
      req.path_params.clear();
      (void)PathMatches(r, req.path, &req.path_params);
      return MatchOf(r);
    }
  }
  std::vector<std::string_view> methods;
  for (const Route& r : routes_) {
    if (!PathMatches(r, req.path, nullptr)) continue;
    bool seen = false;
    for (std::string_view m : methods) seen = seen || m == r.method;
    if (!seen) methods.push_back(r.method);
  }
  std::string allowed;
  for (std::string_view m : methods) {
    if (!allowed.empty()) allowed += ", ";
    allowed += m;
  }
  Error err = MakeError(ErrorCode::kMethodNotAllowed, "method " + EchoText(req.method) +
                                                          " is not allowed on " +
                                                          EchoText(req.path, kEchoPathMaxBytes));
  err.With("allowed", allowed);
  return err;
}

Result<const Handler*> Router::Match(Request& req) const {
  Result<RouteMatch> m = MatchRoute(req);
  if (!m) return std::move(m).error();
  return m->handler;
}

}  // namespace overseer::http
