#include "api/guard.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <iterator>
#include <string>

#include "api/error_mapping.h"
#include "api/json_codec.h"
#include "auth/sha256.h"

namespace overseer::api {

namespace {

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > Limits::kIdempotencyKeyMax) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e;
  });
}

// Responses worth replaying: success, and errors whose code says they are final
// (IsReplayable). An error response without a code is not stored: a retry runs again.
bool Replayable(const http::Response& r) {
  if (r.status < 400) return true;
  return r.error_code.has_value() && IsReplayable(*r.error_code);
}

// The "id" of a stored 201 body (a created resource), if it is a well-formed id; else "".
std::string CreatedId(const std::string& body) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  const boost::json::value* id = v.as_object().if_contains("id");
  if (id == nullptr || !id->is_string()) return {};
  std::string out(id->as_string());
  const bool plain =
      !out.empty() && out.size() <= 64 && std::all_of(out.begin(), out.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  return plain ? out : std::string();
}

}  // namespace

Result<auth::Principal> Authenticate(const ApiContext& ctx, const http::Request& req,
                                     std::string_view scope) {
  std::string_view h = req.Header("Authorization");
  if (h.empty()) {
    return MakeError(ErrorCode::kUnauthenticated,
                     "missing bearer token: send 'Authorization: Bearer <JWT>'");
  }
  if (h.size() < 7 || !std::equal(h.begin(), h.begin() + 7, "bearer ", [](char a, char b) {
        return std::tolower(static_cast<unsigned char>(a)) == b;
      })) {
    return MakeError(ErrorCode::kUnauthenticated, "Authorization must use the Bearer scheme");
  }
  std::string_view token = h.substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  Result<auth::Principal> p = ctx.verifier.Verify(token, ctx.clock.NowMs());
  if (!p) return p;
  // TODO(#10): this worker-token rule (its job must still be active) moves to the access
  // service with the subtree rule; it stays here until that service exists.
  if (!p->job_id.empty() && !ctx.supervisor.access().IsJobActive(p->job_id)) {
    return MakeError(ErrorCode::kUnauthenticated, "this worker token's job has ended");
  }
  if (!p->HasScope(scope)) {
    Error e =
        MakeError(ErrorCode::kInsufficientScope, "the token lacks the scope " + std::string(scope));
    e.With("required_scope", std::string(scope));
    return e;
  }
  return p;
}

http::Handler Protect(ApiContext& ctx, std::string_view scope_view, ProtectedHandler handler) {
  std::string scope(scope_view);
  return [&ctx, scope, handler = std::move(handler)](
             http::Request& req) -> boost::asio::awaitable<http::Response> {
    Result<auth::Principal> p = Authenticate(ctx, req, scope);
    if (!p) co_return ErrorResponse(p.error(), req.request_id);
    // A token bound to a job inside a halted subtree may only read (SPEC §11): an agent
    // cannot lift its own halt, nor start, resume or end anything.
    if (req.method != "GET" && req.method != "HEAD") {
      const service::Caller caller{p->workspace_id, p->job_id};
      if (Status open = ctx.supervisor.halts().CheckCallerMayWrite(caller); !open) {
        co_return ErrorResponse(open.error(), req.request_id);
      }
    }
    if (req.method != "POST") co_return co_await handler(req, *p);
    // Present but empty is refused like any other bad key, never taken as "no key": a
    // client that meant to send one would otherwise get a second job on a retry.
    const auto keys = req.headers.equal_range("Idempotency-Key");
    if (keys.first == keys.second) co_return co_await handler(req, *p);
    const std::string_view key_header(keys.first->value().data(), keys.first->value().size());
    if (std::next(keys.first) != keys.second || !IsValidKey(key_header)) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "Idempotency-Key must be sent once, as 1 to 255 printable ASCII "
                          "characters without spaces");
      e.With("field", "Idempotency-Key");
      co_return ErrorResponse(e, req.request_id);
    }
    const std::string key(key_header);
    const std::string fingerprint = auth::Sha256Hex(req.method + " " + req.path + "\n" + req.body);
    Result<store::IdempotencyRecord> rec =
        co_await ctx.idempotency.Begin(p->workspace_id, key, fingerprint);
    if (!rec) co_return ErrorResponse(rec.error(), req.request_id);
    switch (rec->outcome) {
      case store::IdempotencyOutcome::kReplay: {
        http::Response r;
        r.status = static_cast<unsigned>(rec->status);
        r.body = rec->body;
        r.headers.emplace_back("Idempotent-Replayed", "true");
        // A replayed 201 names the created resource again, as the first answer did.
        if (r.status == 201) {
          if (std::string id = CreatedId(r.body); !id.empty()) {
            r.headers.emplace_back("Location", req.path + "/" + id);
          }
        }
        co_return r;
      }
      case store::IdempotencyOutcome::kInProgress: {
        Error e =
            MakeError(ErrorCode::kRequestInProgress,
                      "a request with this Idempotency-Key is still in progress; retry later");
        co_return ErrorResponse(e, req.request_id);
      }
      case store::IdempotencyOutcome::kMismatch: {
        Error e = MakeError(ErrorCode::kIdempotencyKeyReused,
                            "this Idempotency-Key was used with a different request");
        co_return ErrorResponse(e, req.request_id);
      }
      case store::IdempotencyOutcome::kStarted:
        break;
    }
    http::Response r = co_await handler(req, *p);
    if (Replayable(r)) {
      (void)co_await ctx.idempotency.Finish(p->workspace_id, key, static_cast<int>(r.status),
                                            r.body);
    } else {
      (void)co_await ctx.idempotency.Drop(p->workspace_id, key);
    }
    co_return r;
  };
}

}  // namespace overseer::api
