// The kill switch's REST routes and codec (see halt_routes.h).
#include "api/halt_routes.h"

#include <chrono>

#include "api/codec_util.h"
#include "api/error_mapping.h"
#include "api/guard.h"
#include "api/job_codec.h"
#include "api/json_codec.h"
#include "api/route_util.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace asio = boost::asio;
namespace json = boost::json;
using codec::Invalid;
using http::Request;
using http::Response;
using Awaitable = asio::awaitable<Response>;

Result<HaltRequest> ParseHaltRequest(std::string_view body) {
  Result<json::object> obj = codec::ParseObject(body);
  if (!obj) return obj.error();
  HaltRequest out;
  bool has_reason = false;
  for (const auto& kv : *obj) {
    const std::string key(kv.key());
    const json::value& v = kv.value();
    if (key == "mode") {
      std::optional<core::HaltMode> m;
      if (v.is_string()) m = core::ParseHaltMode(std::string_view(v.as_string()));
      if (!m) return Invalid(key, "must be \"freeze\" or \"terminate\"");
      out.mode = *m;
    } else if (key == "reason") {
      if (!v.is_string()) return Invalid(key, "must be a string");
      const json::string& s = v.as_string();
      if (s.empty() || s.size() > kHaltReasonMax || !codec::IsPrintable(s) ||
          !IsValidUtf8(std::string_view(s))) {
        Error e = Invalid(key, "must be 1 to 1000 printable characters");
        e.With("limit", static_cast<int64_t>(kHaltReasonMax));
        return e;
      }
      out.reason = std::string(s);
      has_reason = true;
    } else if (key == "grace_seconds") {
      Result<int64_t> n = codec::GetInt(v, key, 0, Limits::kGraceMax);
      if (!n) return n.error();
      out.grace_seconds = static_cast<int>(*n);
    } else {
      return Invalid(EchoText(key), "unknown field");
    }
  }
  if (!has_reason) return Invalid("reason", "is required: say why the subtree is halted");
  return out;
}

namespace {

Result<std::string> JobPathId(const Request& req) {
  std::string_view id = req.Param("id");
  if (!IsWellFormedId(id, "j_")) {
    Error e = MakeError(ErrorCode::kNotFound, "no such job");
    e.With("id", EchoText(id));
    return e;
  }
  return std::string(id);
}

json::object WorkspaceHaltToJson(const std::string& workspace_id,
                                 const service::WorkspaceHaltView& v) {
  json::array ids;
  for (const std::string& id : v.job_ids) ids.push_back(json::value(id));
  return json::object{
      {"workspace_id", workspace_id}, {"halted", HaltToJson(v.halt)}, {"job_ids", std::move(ids)}};
}

Awaitable HaltJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<HaltRequest> in = ParseHaltRequest(req.body);
  if (!in) co_return ErrorResponse(in.error(), req.request_id);
  Result<std::string> id = JobPathId(req);
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Job> j = co_await ctx.supervisor.halts().HaltJob(
      CallerOf(p), p.subject, *id, in->mode, std::move(in->reason),
      std::chrono::seconds(in->grace_seconds));
  if (!j) co_return ErrorResponse(j.error(), req.request_id);
  co_return Json(200, JobToJson(*j));
}

Awaitable UnhaltJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  if (Status s = ParseEmptyBody(req.body); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::string> id = JobPathId(req);
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Job> j = co_await ctx.supervisor.halts().UnhaltJob(CallerOf(p), p.subject, *id);
  if (!j) co_return ErrorResponse(j.error(), req.request_id);
  co_return Json(200, JobToJson(*j));
}

Awaitable GetWorkspaceHalt(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  co_return Json(200, WorkspaceHaltToJson(p.workspace_id,
                                          ctx.supervisor.halts().GetWorkspaceHalt(CallerOf(p))));
}

Awaitable HaltWorkspace(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<HaltRequest> in = ParseHaltRequest(req.body);
  if (!in) co_return ErrorResponse(in.error(), req.request_id);
  Result<service::WorkspaceHaltView> v = co_await ctx.supervisor.halts().HaltWorkspace(
      CallerOf(p), p.subject, in->mode, std::move(in->reason),
      std::chrono::seconds(in->grace_seconds));
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  co_return Json(200, WorkspaceHaltToJson(p.workspace_id, *v));
}

Awaitable UnhaltWorkspace(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  if (Status s = ParseEmptyBody(req.body); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<service::WorkspaceHaltView> v =
      co_await ctx.supervisor.halts().UnhaltWorkspace(CallerOf(p), p.subject);
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  co_return Json(200, WorkspaceHaltToJson(p.workspace_id, *v));
}

}  // namespace

void RegisterHaltRoutes(http::Router& router, ApiContext& ctx) {
  auto bind = [&ctx](auto fn) {
    return [&ctx, fn](Request& req, const auth::Principal& p) { return fn(ctx, req, p); };
  };
  router.Add("POST", "/api/jobs/{id}/halt", Protect(ctx, auth::kSupervisorWrite, bind(HaltJob)));
  router.Add("POST", "/api/jobs/{id}/unhalt",
             Protect(ctx, auth::kSupervisorWrite, bind(UnhaltJob)));
  router.Add("GET", "/api/halt", Protect(ctx, auth::kSupervisorRead, bind(GetWorkspaceHalt)));
  router.Add("POST", "/api/halt", Protect(ctx, auth::kSupervisorAdmin, bind(HaltWorkspace)));
  router.Add("POST", "/api/unhalt", Protect(ctx, auth::kSupervisorAdmin, bind(UnhaltWorkspace)));
}

}  // namespace overseer::api
