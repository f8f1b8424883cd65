#include "api/routes.h"

#include <boost/json.hpp>
#include <chrono>

#include "api/docs.h"
#include "api/error_mapping.h"
#include "api/guard.h"
#include "api/halt_routes.h"
#include "api/job_codec.h"
#include "api/json_codec.h"
#include "api/resource_codec.h"
#include "api/route_util.h"
#include "api/transcript_codec.h"
#include "api/worker_codec.h"
#include "common/ids.h"
#include "common/utf8.h"

namespace overseer::api {
namespace asio = boost::asio;
namespace json = boost::json;
using http::Request;
using http::Response;
using Awaitable = asio::awaitable<Response>;

namespace {

Result<std::string> PathId(const Request& req, std::string_view prefix) {
  std::string_view id = req.Param("id");
  if (!IsWellFormedId(id, prefix)) {
    // A malformed id names nothing: answer as for a missing one.
    Error e = MakeError(ErrorCode::kNotFound,
                        "no such " + std::string(prefix == "w_" ? "worker" : "job"));
    e.With("id", EchoText(id));
    return e;
  }
  return std::string(id);
}

// ---- Supervisor ---------------------------------------------------------------------------

Awaitable ListWorkers(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {"status", "job_id", "limit", "cursor"}); !s) {
    co_return ErrorResponse(s.error(), req.request_id);
  }
  store::WorkerQuery q;
  Result<int> limit = QueryInt(req, "limit", Limits::kLimitDefault, 1, Limits::kLimitMax);
  if (!limit) co_return ErrorResponse(limit.error(), req.request_id);
  q.limit = *limit;
  if (auto st = req.Query("status")) {
    auto parsed = core::ParseWorkerState(*st);
    if (!parsed) {
      Error e = MakeError(
          ErrorCode::kInvalidRequest,
          "status: must be one of IDLE, RUNNING, PAUSED, COMPLETED, FAILED, RETRYING, TERMINATED");
      e.With("field", "status");
      co_return ErrorResponse(e, req.request_id);
    }
    q.status = *parsed;
  }
  if (auto job = req.Query("job_id")) {
    if (!IsWellFormedId(*job, "j_")) {
      Error e = MakeError(ErrorCode::kInvalidRequest, "job_id: must be a job id (j_...)");
      e.With("field", "job_id");
      co_return ErrorResponse(e, req.request_id);
    }
    q.job_id = std::string(*job);
  }
  if (auto c = req.Query("cursor")) {
    Result<std::string> after = DecodeCursor(*c, "w_");
    if (!after) co_return ErrorResponse(after.error(), req.request_id);
    q.after_id = *after;
  }
  Result<store::Page<core::Worker>> page =
      co_await ctx.supervisor.queries().ListWorkers(CallerOf(p), q);
  if (!page) co_return ErrorResponse(page.error(), req.request_id);
  json::array items;
  items.reserve(page->items.size());
  for (const core::Worker& w : page->items) items.push_back(WorkerToJson(w));
  co_return Json(
      200, json::object{{"workers", std::move(items)},
                        {"next_cursor", page->next_after_id.empty()
                                            ? json::value(nullptr)
                                            : json::value(EncodeCursor(page->next_after_id))}});
}

Awaitable GetWorker(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::string> id = PathId(req, "w_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  if (ctx.rendered_workers != nullptr) {
    const RenderedWorker* hit = ctx.rendered_workers->Find(*id);
    if (hit != nullptr && hit->workspace_id == p.workspace_id) {
      Response r;
      r.status = 200;
      r.body = hit->body;
      co_return r;
    }
  }
  Result<service::WorkerView> v = co_await ctx.supervisor.queries().GetWorker(CallerOf(p), *id);
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  Response r = Json(200, WorkerViewToJson(*v));
  if (v->final && ctx.rendered_workers != nullptr) {
    ctx.rendered_workers->Put(*id, RenderedWorker{v->worker.workspace_id, r.body});
  }
  co_return r;
}

enum class Action { kPause, kResume };

Awaitable ControlWorker(ApiContext& ctx, Request& req, const auth::Principal& p, Action action) {
  if (Status s = ParseEmptyBody(req.body); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::string> id = PathId(req, "w_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Worker> w;
  if (action == Action::kPause) {
    w = co_await ctx.supervisor.workers().Pause(CallerOf(p), *id);
  } else {
    w = co_await ctx.supervisor.workers().Resume(CallerOf(p), *id);
  }
  if (!w) co_return ErrorResponse(w.error(), req.request_id);
  co_return Json(200, WorkerToJson(*w));
}

Awaitable TerminateWorker(ApiContext& ctx, Request& req, const auth::Principal& p) {
  Result<TerminateOptions> opts = ParseTerminateOptions(req.body);
  if (!opts) co_return ErrorResponse(opts.error(), req.request_id);
  Result<std::string> id = PathId(req, "w_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Worker> w = co_await ctx.supervisor.workers().Terminate(
      CallerOf(p), *id, std::chrono::seconds(opts->grace_seconds), opts->wait);
  if (!w) co_return ErrorResponse(w.error(), req.request_id);
  co_return Json(opts->wait ? 200 : 202, WorkerToJson(*w));
}

Awaitable WorkerLogs(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {"tail"}); !s)
    co_return ErrorResponse(s.error(), req.request_id);
  Result<int> tail = QueryInt(req, "tail", Limits::kTailDefault, 1, Limits::kTailMax);
  if (!tail) co_return ErrorResponse(tail.error(), req.request_id);
  Result<std::string> id = PathId(req, "w_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<std::string> text = co_await ctx.supervisor.queries().Logs(CallerOf(p), *id, *tail);
  if (!text) co_return ErrorResponse(text.error(), req.request_id);
  Response r;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(*text);
  co_return r;
}

Awaitable WorkerTranscript(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {"tail"}); !s) {
    co_return ErrorResponse(s.error(), req.request_id);
  }
  Result<int> tail = QueryInt(req, "tail", kTranscriptTailDefault, 1, kTranscriptTailMax);
  if (!tail) co_return ErrorResponse(tail.error(), req.request_id);
  Result<std::string> id = PathId(req, "w_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<std::vector<service::TranscriptEntry>> entries =
      co_await ctx.supervisor.queries().Transcript(CallerOf(p), *id, *tail);
  if (!entries) co_return ErrorResponse(entries.error(), req.request_id);
  co_return Json(200, TranscriptToJson(*entries));
}

Awaitable Metrics(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  // Daemon-wide figures tell one tenant about the others' activity: operators only.
  Result<service::Metrics> m =
      co_await ctx.supervisor.queries().GetMetrics(CallerOf(p), p.HasScope(auth::kSupervisorAdmin));
  if (!m) co_return ErrorResponse(m.error(), req.request_id);
  json::object by_status;
  for (core::WorkerState s :
       {core::WorkerState::kIdle, core::WorkerState::kRunning, core::WorkerState::kPaused,
        core::WorkerState::kCompleted, core::WorkerState::kFailed, core::WorkerState::kRetrying,
        core::WorkerState::kTerminated}) {
    by_status[core::WorkerStateName(s)] = 0;
  }
  for (const auto& [s, n] : m->workers_by_status) by_status[core::WorkerStateName(s)] = n;
  json::array depth;
  for (const auto& [d, n] : m->live_workers_by_depth) {
    depth.push_back(json::object{{"depth", d}, {"live_workers", n}});
  }
  auto counters = [](const service::Counters& c) {
    return json::object{{"jobs_submitted", c.jobs_submitted},
                        {"workers_spawned", c.workers_spawned},
                        {"workers_exited", c.workers_exited},
                        {"spawn_failures", c.spawn_failures}};
  };
  json::object body{{"workers_by_status", std::move(by_status)},
                    {"depth_usage", std::move(depth)},
                    {"uptime_seconds", m->uptime_seconds},
                    {"counters", counters(m->counters)}};
  if (m->daemon_wide) {
    json::object daemon = counters(m->daemon_counters);
    daemon["commits"] = m->commits;
    daemon["commit_transactions"] = m->commit_transactions;
    body["daemon_counters"] = std::move(daemon);
  }
  co_return Json(200, body);
}

// ---- Jobs ---------------------------------------------------------------------------------

Awaitable CreateJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  Result<service::JobSpec> spec = ParseJobSpec(req.body, ctx.supervisor.runtimes());
  if (!spec) co_return ErrorResponse(spec.error(), req.request_id);
  Result<core::Job> job = co_await ctx.supervisor.jobs().CreateJob(CallerOf(p), std::move(*spec));
  if (!job) co_return ErrorResponse(job.error(), req.request_id);
  Response r = Json(201, JobToJson(*job));
  r.headers.emplace_back("Location", "/api/jobs/" + job->id);
  co_return r;
}

Awaitable PatchJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::optional<core::Budget>> budget = ParseBudgetPatch(req.body);
  if (!budget) co_return ErrorResponse(budget.error(), req.request_id);
  std::string_view id = req.Param("id");
  if (!IsWellFormedId(id, "j_")) {
    Error e = MakeError(ErrorCode::kNotFound, "no such job");
    e.With("id", EchoText(id));
    co_return ErrorResponse(e, req.request_id);
  }
  Result<core::Job> job =
      co_await ctx.supervisor.budgets().SetBudget(CallerOf(p), std::string(id), std::move(*budget));
  if (!job) co_return ErrorResponse(job.error(), req.request_id);
  co_return Json(200, JobToJson(*job));
}

Awaitable ListJobs(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {"status", "parent_job_id", "depth", "limit", "cursor"});
      !s) {
    co_return ErrorResponse(s.error(), req.request_id);
  }
  store::JobQuery q;
  Result<int> limit = QueryInt(req, "limit", Limits::kLimitDefault, 1, Limits::kLimitMax);
  if (!limit) co_return ErrorResponse(limit.error(), req.request_id);
  q.limit = *limit;
  if (auto st = req.Query("status")) {
    auto parsed = core::ParseJobState(*st);
    // SUBMITTED is never stored (a job is recorded PENDING when accepted): not a filter.
    if (!parsed || *parsed == core::JobState::kSubmitted) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "status: must be one of PENDING, RUNNING, COMPLETED, FAILED, CANCELED");
      e.With("field", "status");
      co_return ErrorResponse(e, req.request_id);
    }
    q.status = *parsed;
  }
  if (auto parent = req.Query("parent_job_id")) {
    if (!parent->empty() && !IsWellFormedId(*parent, "j_")) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "parent_job_id: must be a job id (j_...), or empty for root jobs");
      e.With("field", "parent_job_id");
      co_return ErrorResponse(e, req.request_id);
    }
    q.parent_job_id = std::string(*parent);
  }
  if (req.Query("depth")) {
    Result<int> d = QueryInt(req, "depth", 0, 0, 1000);
    if (!d) co_return ErrorResponse(d.error(), req.request_id);
    q.depth = *d;
  }
  if (auto c = req.Query("cursor")) {
    Result<std::string> after = DecodeCursor(*c, "j_");
    if (!after) co_return ErrorResponse(after.error(), req.request_id);
    q.after_id = *after;
  }
  Result<store::Page<core::Job>> page = co_await ctx.supervisor.queries().ListJobs(CallerOf(p), q);
  if (!page) co_return ErrorResponse(page.error(), req.request_id);
  json::array items;
  items.reserve(page->items.size());
  for (const core::Job& j : page->items) items.push_back(JobToJson(j));
  co_return Json(
      200, json::object{{"jobs", std::move(items)},
                        {"next_cursor", page->next_after_id.empty()
                                            ? json::value(nullptr)
                                            : json::value(EncodeCursor(page->next_after_id))}});
}

Awaitable GetJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::string> id = PathId(req, "j_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<service::JobView> v = co_await ctx.supervisor.queries().GetJob(CallerOf(p), *id);
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  co_return Json(200, JobViewToJson(*v));
}

Awaitable JobTree(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::string> id = PathId(req, "j_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<service::JobTreeView> v = co_await ctx.supervisor.queries().GetJobTree(CallerOf(p), *id);
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  co_return Json(200, JobTreeToJson(*v));
}

Awaitable WaitJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {"timeout_seconds"}); !s) {
    co_return ErrorResponse(s.error(), req.request_id);
  }
  Result<int> timeout = QueryInt(req, "timeout_seconds", Limits::kWaitDefault, 0, Limits::kWaitMax);
  if (!timeout) co_return ErrorResponse(timeout.error(), req.request_id);
  Result<std::string> id = PathId(req, "j_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Job> j =
      co_await ctx.supervisor.jobs().WaitJob(CallerOf(p), *id, std::chrono::seconds(*timeout));
  if (!j) co_return ErrorResponse(j.error(), req.request_id);
  co_return Json(200, JobToJson(*j));
}

Awaitable CancelJob(ApiContext& ctx, Request& req, const auth::Principal& p) {
  Result<TerminateOptions> opts = ParseTerminateOptions(req.body);
  if (!opts) co_return ErrorResponse(opts.error(), req.request_id);
  Result<std::string> id = PathId(req, "j_");
  if (!id) co_return ErrorResponse(id.error(), req.request_id);
  Result<core::Job> j = co_await ctx.supervisor.jobs().CancelJob(
      CallerOf(p), *id, std::chrono::seconds(opts->grace_seconds), opts->wait);
  if (!j) co_return ErrorResponse(j.error(), req.request_id);
  co_return Json(opts->wait ? 200 : 202, JobToJson(*j));
}

// ---- Resources ----------------------------------------------------------------------------

Awaitable GetQuotas(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  co_return Json(200, QuotasToJson(ctx.supervisor.scheduler().GetQuotas(CallerOf(p))));
}

Awaitable PutQuotas(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<std::vector<std::pair<int, int>>> limits = ParseQuotasUpdate(req.body);
  if (!limits) co_return ErrorResponse(limits.error(), req.request_id);
  Result<service::QuotasView> v =
      co_await ctx.supervisor.scheduler().SetQuotas(CallerOf(p), std::move(*limits));
  if (!v) co_return ErrorResponse(v.error(), req.request_id);
  co_return Json(200, QuotasToJson(*v));
}

Awaitable Usage(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  co_return Json(200, UsageToJson(ctx.supervisor.scheduler().GetQuotas(CallerOf(p))));
}

Awaitable Allocate(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<AllocateRequest> in = ParseAllocateRequest(req.body);
  if (!in) co_return ErrorResponse(in.error(), req.request_id);
  Result<core::Allocation> a = co_await ctx.supervisor.allocations().Allocate(
      CallerOf(p), in->job_id, in->depth, in->worker_count);
  if (!a) co_return ErrorResponse(a.error(), req.request_id);
  co_return Json(201, AllocationToJson(*a));
}

Awaitable Release(ApiContext& ctx, Request& req, const auth::Principal& p) {
  if (Status s = CheckQueryNames(req, {}); !s) co_return ErrorResponse(s.error(), req.request_id);
  Result<ReleaseRequest> in = ParseReleaseRequest(req.body);
  if (!in) co_return ErrorResponse(in.error(), req.request_id);
  Result<std::vector<core::Allocation>> released =
      co_await ctx.supervisor.allocations().Release(CallerOf(p), in->allocation_id, in->job_id);
  if (!released) co_return ErrorResponse(released.error(), req.request_id);
  json::array items;
  for (const core::Allocation& a : *released) items.push_back(AllocationToJson(a));
  co_return Json(200, json::object{{"released", std::move(items)}});
}

// ---- System -------------------------------------------------------------------------------

Awaitable Healthz(Request&) { co_return Json(200, json::object{{"status", "ok"}}); }

Awaitable Readyz(ApiContext& ctx, Request& req) {
  Status s = co_await ctx.supervisor.queries().Ping();
  if (!s) {
    Error e = MakeError(ErrorCode::kUnavailable, "the database is not reachable");
    co_return ErrorResponse(e, req.request_id);
  }
  co_return Json(200, json::object{{"status", "ready"}});
}

}  // namespace

void RegisterRoutes(http::Router& router, ApiContext& ctx) {
  using auth::kJobsRead;
  using auth::kJobsWrite;
  using auth::kSupervisorRead;
  using auth::kSupervisorWrite;
  auto bind = [&ctx](auto fn) {
    return [&ctx, fn](Request& req, const auth::Principal& p) { return fn(ctx, req, p); };
  };
  router.Add("GET", "/healthz", [](Request& req) { return Healthz(req); });
  router.Add("GET", "/readyz", [&ctx](Request& req) { return Readyz(ctx, req); });

  router.Add("GET", "/api/supervisor/workers", Protect(ctx, kSupervisorRead, bind(ListWorkers)));
  router.Add("GET", "/api/supervisor/workers/{id}", Protect(ctx, kSupervisorRead, bind(GetWorker)));
  router.Add("POST", "/api/supervisor/workers/{id}/pause",
             Protect(ctx, kSupervisorWrite, [&ctx](Request& req, const auth::Principal& p) {
               return ControlWorker(ctx, req, p, Action::kPause);
             }));
  router.Add("POST", "/api/supervisor/workers/{id}/resume",
             Protect(ctx, kSupervisorWrite, [&ctx](Request& req, const auth::Principal& p) {
               return ControlWorker(ctx, req, p, Action::kResume);
             }));
  router.Add("POST", "/api/supervisor/workers/{id}/terminate",
             Protect(ctx, kSupervisorWrite, bind(TerminateWorker)));
  router.Add("GET", "/api/supervisor/workers/{id}/logs",
             Protect(ctx, kSupervisorRead, bind(WorkerLogs)));
  router.Add("GET", "/api/supervisor/workers/{id}/transcript",
             Protect(ctx, kSupervisorRead, bind(WorkerTranscript)));
  router.Add("GET", "/api/supervisor/metrics", Protect(ctx, kSupervisorRead, bind(Metrics)));

  router.Add("POST", "/api/jobs", Protect(ctx, kJobsWrite, bind(CreateJob)));
  router.Add("GET", "/api/jobs", Protect(ctx, kJobsRead, bind(ListJobs)));
  router.Add("GET", "/api/jobs/{id}", Protect(ctx, kJobsRead, bind(GetJob)));
  router.Add("PATCH", "/api/jobs/{id}", Protect(ctx, kJobsWrite, bind(PatchJob)));
  router.Add("GET", "/api/jobs/{id}/tree", Protect(ctx, kJobsRead, bind(JobTree)));
  router.Add("GET", "/api/jobs/{id}/wait", Protect(ctx, kJobsRead, bind(WaitJob)));
  router.Add("POST", "/api/jobs/{id}/cancel", Protect(ctx, kJobsWrite, bind(CancelJob)));
  router.Add("GET", "/api/resources/quotas", Protect(ctx, auth::kResourcesRead, bind(GetQuotas)));
  router.Add("PUT", "/api/resources/quotas", Protect(ctx, auth::kResourcesAdmin, bind(PutQuotas)));
  router.Add("GET", "/api/resources/usage", Protect(ctx, auth::kResourcesRead, bind(Usage)));
  router.Add("POST", "/api/resources/allocate",
             Protect(ctx, auth::kResourcesWrite, bind(Allocate)));
  router.Add("POST", "/api/resources/release", Protect(ctx, auth::kResourcesWrite, bind(Release)));
  RegisterHaltRoutes(router, ctx);
  RegisterDocRoutes(router);
}

}  // namespace overseer::api
