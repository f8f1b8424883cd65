// Halts: the kill switch (see halts.h).
#include "service/halts.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_set>

#include "core/budget.h"
#include "core/events.h"
#include "core/halt.h"
#include "service/access.h"
#include "service/coroutines.h"
#include "service/job_operations.h"
#include "service/scheduler.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::HaltMode;
using core::JobState;

namespace {

Error WorkspaceHaltedError(const std::string& workspace_id, const core::Halt& h,
                           const std::string& message) {
  Error e = MakeError(ErrorCode::kHalted, message);
  e.With("workspace_id", workspace_id)
      .With("mode", std::string(core::HaltModeName(h.mode)))
      .With("halted_by", h.by)
      .With("halt_reason", h.reason);
  return e;
}

Error NotHalted(const core::Job& j) {
  Error e = MakeError(ErrorCode::kInvalidStateTransition, "the job is not halted");
  e.With("job_id", j.id).With("current_state", std::string(core::JobStateName(j.status)));
  return e;
}

}  // namespace

const LiveJob* HaltedAt(const LiveJob& job) {
  if (job.rec.halted) return &job;
  // Active parents are owned by Context::jobs: the pointer stays valid after `p` goes.
  for (JobPtr p = job.parent.lock(); p; p = p->parent.lock()) {
    if (p->rec.halted) return p.get();
  }
  return nullptr;
}

Error HaltedError(const core::Job& halted, const std::string& message) {
  if (halted.halted && halted.halted->budget) {
    // A spent budget: raising it lifts the refusal.
    Error e = MakeError(ErrorCode::kBudgetExceeded,
                        message + ": the budget of job " + halted.id +
                            " is spent; raise it with PATCH /api/jobs/" + halted.id);
    e.With("job_id", halted.id).With("halt_reason", halted.halted->reason);
    // Which limit, and what is left of it (nothing): as an admission refusal names them.
    if (halted.budget) {
      const std::string_view limit =
          core::SpentLimit(*halted.budget, halted.usage)
              .value_or(halted.budget->usd ? std::string_view("usd") : std::string_view("tokens"));
      e.With("limit", std::string(limit)).With("requested", int64_t{0});
      if (limit == "usd" && halted.budget->usd) {
        e.With("left", core::MicroUsd(*halted.budget->usd - halted.usage.usd));
      } else if (halted.budget->tokens) {
        e.With("left", *halted.budget->tokens - halted.usage.tokens);
      }
    }
    return e;
  }
  Error e = MakeError(ErrorCode::kHalted, message);
  e.With("job_id", halted.id);
  if (halted.halted) {
    e.With("mode", std::string(core::HaltModeName(halted.halted->mode)))
        .With("halted_by", halted.halted->by)
        .With("halt_reason", halted.halted->reason);
  }
  return e;
}

Status Halts::CheckCallerMayWrite(const Caller& caller) const {
  if (caller.job_id.empty()) return OkStatus();
  JobPtr job = ctx_.FindJob(caller.workspace_id, caller.job_id);
  if (!job) return OkStatus();  // an ended job's token is refused as such
  if (const LiveJob* h = HaltedAt(*job)) {
    return HaltedError(h->rec, "this token's job is inside a halted subtree: it may only read");
  }
  return OkStatus();
}

Status Halts::CheckWorkspaceOpen(const std::string& ws) const {
  if (auto it = workspace_halts_.find(ws); it != workspace_halts_.end()) {
    return WorkspaceHaltedError(ws, it->second, "the workspace is halted: no new job is accepted");
  }
  return OkStatus();
}

asio::awaitable<Status> Halts::CheckNewJob(Caller caller, std::string parent_id) {
  if (Status open = CheckWorkspaceOpen(caller.workspace_id); !open) co_return open.error();
  // Up from the parent: through memory while the jobs are live, else through the store (a
  // subtree ended by a terminate halt refuses new jobs as HALTED too).
  std::string cur = std::move(parent_id);
  for (int hops = 0; !cur.empty() && hops <= ctx_.options.max_depth + 1; ++hops) {
    if (JobPtr live = ctx_.FindJob(caller.workspace_id, cur)) {
      if (const LiveJob* h = HaltedAt(*live)) {
        co_return HaltedError(h->rec, "the parent job is inside a halted subtree");
      }
      co_return OkStatus();
    }
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [this, &caller, &cur] { return ctx_.store.GetJob(caller.workspace_id, cur); });
    if (!j) {
      if (j.error().code == ErrorCode::kNotFound) co_return OkStatus();
      co_return j.error();
    }
    if (j->halted) co_return HaltedError(*j, "the parent job is inside a halted subtree");
    cur = j->parent_job_id;
  }
  co_return OkStatus();
}

asio::awaitable<Status> Halts::Load() {
  Result<std::vector<store::WorkspaceHalt>> rows =
      co_await RunBlocking(ctx_.pool, [this] { return ctx_.store.ListWorkspaceHalts(); });
  if (!rows) co_return rows.error();
  workspace_halts_.clear();
  for (store::WorkspaceHalt& h : *rows) workspace_halts_[h.workspace_id] = std::move(h.halt);
  if (!workspace_halts_.empty()) {
    spdlog::warn("{} workspace(s) halted (POST /api/unhalt lifts a halt)", workspace_halts_.size());
  }
  co_return OkStatus();
}

WorkspaceHaltView Halts::GetWorkspaceHalt(const Caller& caller) const {
  WorkspaceHaltView v;
  if (auto it = workspace_halts_.find(caller.workspace_id); it != workspace_halts_.end()) {
    v.halt = it->second;
  }
  return v;
}

asio::awaitable<Result<core::Job>> Halts::HaltJob(Caller caller, std::string by, std::string id,
                                                  HaltMode mode, std::string reason,
                                                  std::chrono::milliseconds grace) {
  if (ctx_.shutting_down) {
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (Status w = CheckCallerMayWrite(caller); !w) co_return w.error();
  JobPtr job = ctx_.FindJob(caller.workspace_id, id);
  if (!job || core::IsTerminalJobState(job->rec.status)) {
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [this, &caller, &id] { return ctx_.store.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    if (j->halted) co_return HaltedError(*j, "the job is halted already");
    const std::string state(core::JobStateName(j->status));
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "the job is " + state + ": nothing of it is left to halt");
    e.With("job_id", id).With("current_state", state);
    co_return e;
  }
  if (!co_await access_.CallerReaches(caller, id)) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may halt only its own job and the jobs below it");
    e.With("job_id", id);
    co_return e;
  }
  if (const LiveJob* h = HaltedAt(*job)) {
    // Halting again is refused (409 HALTED), but a freeze of this very job may be escalated
    // to terminate.
    const bool escalate = h == job.get() && h->rec.halted->mode == HaltMode::kFreeze &&
                          mode == HaltMode::kTerminate && !h->rec.halted->workspace_wide;
    if (!escalate) {
      co_return HaltedError(h->rec, h == job.get() ? "the job is halted already"
                                                   : "the job is inside a halted subtree");
    }
  }
  core::Halt halt{mode, std::move(reason), std::move(by), ctx_.clock.NowMs(), false};
  co_return co_await HaltOne(std::move(job), std::move(halt), grace);
}

asio::awaitable<Result<core::Job>> Halts::UnhaltJob(Caller caller, std::string by, std::string id) {
  if (ctx_.shutting_down) {
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (Status w = CheckCallerMayWrite(caller); !w) co_return w.error();
  if (!co_await access_.CallerReaches(caller, id)) {
    Error e = MakeError(ErrorCode::kInsufficientScope,
                        "a worker token may unhalt only its own job and the jobs below it");
    e.With("job_id", id);
    co_return e;
  }
  JobPtr job = ctx_.FindJob(caller.workspace_id, id);
  if (!job) {
    // Not live: a job ended (a terminate halt ends its subtree): lifting its halt only lifts
    // the refusal of new jobs below it.
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [this, &caller, &id] { return ctx_.store.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    if (!j->halted) co_return NotHalted(*j);
    if (j->halted->workspace_wide && workspace_halts_.count(caller.workspace_id) != 0) {
      co_return HaltedError(*j, "the job was halted with its workspace: POST /api/unhalt");
    }
    const TimeMs now = ctx_.clock.NowMs();
    store::ChangeSet cs;
    cs.job_halts.push_back(store::JobHaltChange{j->workspace_id, j->id, std::nullopt});
    cs.events.push_back(core::JobUnhaltedEvent(j->workspace_id, j->id, *j->halted, by, now));
    if (Status st = co_await ctx_.commits.Commit(cs); !st) co_return st.error();
    ctx_.bus.Publish(cs.events);
    j->halted.reset();
    co_return *j;
  }
  if (!job->rec.halted) {
    if (const LiveJob* h = HaltedAt(*job)) {
      co_return HaltedError(h->rec, "the halt is on a job above this one: unhalt that job");
    }
    co_return NotHalted(job->rec);
  }
  if (job->rec.halted->budget) {
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "the job was halted by its spent budget: raise the budget with PATCH "
                        "/api/jobs/" +
                            id + " {\"budget\":{...}} to resume it");
    e.With("job_id", id).With("halt_reason", job->rec.halted->reason);
    co_return e;
  }
  if (JobPtr parent = job->parent.lock()) {
    if (const LiveJob* h = HaltedAt(*parent)) {
      co_return HaltedError(h->rec, "a job above this one is halted too: unhalt that job first");
    }
  }
  if (job->rec.halted->workspace_wide && workspace_halts_.count(caller.workspace_id) != 0) {
    co_return HaltedError(job->rec, "the job was halted with its workspace: POST /api/unhalt");
  }
  if (Status st = co_await UnhaltOne(job, std::move(by)); !st) co_return st.error();
  co_return job->rec;
}

asio::awaitable<Result<WorkspaceHaltView>> Halts::HaltWorkspace(Caller caller, std::string by,
                                                                HaltMode mode, std::string reason,
                                                                std::chrono::milliseconds grace) {
  if (ctx_.shutting_down) {
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (Status w = CheckCallerMayWrite(caller); !w) co_return w.error();
  const std::string& ws = caller.workspace_id;
  if (auto it = workspace_halts_.find(ws); it != workspace_halts_.end()) {
    const bool escalate = it->second.mode == HaltMode::kFreeze && mode == HaltMode::kTerminate;
    if (!escalate)
      co_return WorkspaceHaltedError(ws, it->second, "the workspace is halted already");
  }
  const TimeMs now = ctx_.clock.NowMs();
  core::Halt halt{mode, std::move(reason), std::move(by), now, true};
  store::ChangeSet cs;
  cs.workspace_halts.push_back(store::WorkspaceHaltChange{ws, halt});
  cs.events.push_back(core::JobHaltedEvent(ws, "", halt, now));
  if (Status st = co_await ctx_.commits.Commit(cs); !st) co_return st.error();
  workspace_halts_[ws] = halt;
  ctx_.bus.Publish(cs.events);

  // Every active root job of the workspace; again while one appears that was not there (its
  // creation passed the check just before the halt was recorded), at most kMaxHaltPasses times.
  WorkspaceHaltView view;
  view.halt = halt;
  std::unordered_set<std::string> seen;
  for (int pass = 0; pass < kMaxHaltPasses; ++pass) {
    std::vector<JobPtr> roots;
    for (const auto& [id, j] : ctx_.jobs) {
      if (j->rec.workspace_id == ws && j->rec.parent_job_id.empty() &&
          !core::IsTerminalJobState(j->rec.status) && seen.insert(id).second) {
        roots.push_back(j);
      }
    }
    if (roots.empty()) break;
    std::vector<asio::awaitable<void>> work;
    for (const JobPtr& r : roots) {
      view.job_ids.push_back(r->rec.id);
      if (r->rec.halted && !r->rec.halted->workspace_wide) {
        // Halted on its own before: its halt stays (its own unhalt lifts it); a terminate is
        // still carried out.
        if (mode == HaltMode::kTerminate) work.push_back(Apply(r, mode, grace));
        continue;
      }
      work.push_back(internal::Discard(HaltOne(r, halt, grace)));
    }
    co_await RunAll(std::move(work));
  }
  std::sort(view.job_ids.begin(), view.job_ids.end());
  co_return view;
}

asio::awaitable<Result<WorkspaceHaltView>> Halts::UnhaltWorkspace(Caller caller, std::string by) {
  if (ctx_.shutting_down) {
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (Status w = CheckCallerMayWrite(caller); !w) co_return w.error();
  const std::string& ws = caller.workspace_id;
  auto it = workspace_halts_.find(ws);
  if (it == workspace_halts_.end()) {
    Error e = MakeError(ErrorCode::kInvalidStateTransition, "the workspace is not halted");
    e.With("workspace_id", ws);
    co_return e;
  }
  const core::Halt lifted = it->second;
  const TimeMs now = ctx_.clock.NowMs();
  store::ChangeSet cs;
  cs.workspace_halts.push_back(store::WorkspaceHaltChange{ws, std::nullopt});
  cs.events.push_back(core::JobUnhaltedEvent(ws, "", lifted, by, now));
  if (Status st = co_await ctx_.commits.Commit(cs); !st) co_return st.error();
  workspace_halts_.erase(ws);
  ctx_.bus.Publish(cs.events);

  std::vector<JobPtr> roots;
  for (const auto& [id, j] : ctx_.jobs) {
    if (j->rec.workspace_id == ws && j->rec.halted && j->rec.halted->workspace_wide) {
      roots.push_back(j);
    }
  }
  std::sort(roots.begin(), roots.end(),
            [](const JobPtr& a, const JobPtr& b) { return a->rec.id < b->rec.id; });
  WorkspaceHaltView view;
  std::vector<asio::awaitable<void>> work;
  for (const JobPtr& r : roots) {
    view.job_ids.push_back(r->rec.id);
    work.push_back(internal::Discard(UnhaltOne(r, by)));
  }
  co_await RunAll(std::move(work));
  co_return view;
}

}  // namespace overseer::service
