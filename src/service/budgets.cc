// Budgets: subtree budgets (see budgets.h).
#include "service/budgets.h"

#include <spdlog/spdlog.h>

#include "core/events.h"
#include "service/access.h"
#include "service/coroutines.h"
#include "service/halts.h"

namespace overseer::service {
namespace asio = boost::asio;

namespace {

// The nearest job at or above `job` with a budget, or nullptr.
JobPtr PoolAt(JobPtr job) {
  for (; job; job = job->parent.lock()) {
    if (job->rec.budget) return job;
  }
  return nullptr;
}

// The unspent reservations drawing on budgeted `pool`: of the active budgeted jobs below it
// with no budgeted job between, and of those being created.
core::Reservation HeldBelow(const LiveJob& pool) {
  core::Reservation held = pool.pending_reserved;
  std::vector<const LiveJob*> next;
  for (const JobPtr& c : pool.children) next.push_back(c.get());
  while (!next.empty()) {
    const LiveJob* j = next.back();
    next.pop_back();
    if (j->rec.budget) {
      const core::Reservation r = core::Unspent(*j->rec.budget, j->rec.usage);
      held.usd += r.usd;
      held.tokens += r.tokens;
      continue;
    }
    for (const JobPtr& c : j->children) next.push_back(c.get());
  }
  return held;
}

core::BudgetPool PoolOf(const LiveJob& job) {
  return core::BudgetPool{job.rec.id, *job.rec.budget, job.rec.usage, HeldBelow(job)};
}

Error Refused(const core::BudgetRefusal& r, const std::string& message) {
  Error e = MakeError(ErrorCode::kBudgetExceeded, message);
  e.With("limit", r.limit).With("job_id", r.job_id);
  if (r.money) {
    e.With("requested", core::MicroUsd(r.requested)).With("left", core::MicroUsd(r.left));
  } else {
    e.With("requested", static_cast<int64_t>(r.requested))
        .With("left", static_cast<int64_t>(r.left));
  }
  return e;
}

Error SpentError(const core::Job& j, std::string_view limit) {
  Error e = MakeError(ErrorCode::kBudgetExceeded, "the budget of job " + j.id + " is spent (" +
                                                      std::string(limit) +
                                                      "): raise it with PATCH /api/jobs/" + j.id);
  e.With("limit", std::string(limit)).With("job_id", j.id).With("requested", int64_t{0});
  if (limit == "usd" && j.budget && j.budget->usd) {
    e.With("left", core::MicroUsd(*j.budget->usd - j.usage.usd));
  } else if (j.budget && j.budget->tokens) {
    e.With("left", *j.budget->tokens - j.usage.tokens);
  }
  return e;
}

}  // namespace

std::optional<core::BudgetLeft> BudgetLeftFor(const LiveJob& job) {
  const LiveJob* pool = nullptr;
  if (job.rec.budget) {
    pool = &job;
  } else {
    for (JobPtr p = job.parent.lock(); p; p = p->parent.lock()) {
      if (p->rec.budget) {
        pool = p.get();
        break;
      }
    }
  }
  if (pool == nullptr) return std::nullopt;
  return core::Left(PoolOf(*pool));
}

std::optional<core::BudgetLeft> BudgetLeftOf(const core::Job& job) {
  if (!job.budget) return std::nullopt;
  return core::Left(core::BudgetPool{job.id, *job.budget, job.usage, {}});
}

std::optional<double> UsdLeftFor(const LiveJob& job) {
  std::optional<double> least;
  auto consider = [&least](const LiveJob& j) {
    if (!j.rec.budget || !j.rec.budget->usd) return;
    const double left = *j.rec.budget->usd - j.rec.usage.usd;
    if (!least || left < *least) least = left;
  };
  consider(job);
  for (JobPtr p = job.parent.lock(); p; p = p->parent.lock()) consider(*p);
  return least;
}

Budgets::~Budgets() = default;

Result<BudgetAdmission> Budgets::Admit(const JobPtr& parent,
                                       const std::optional<core::Budget>& budget) {
  BudgetAdmission a;
  a.parent = parent;
  if (!parent) return a;
  // A subtree that has spent its budget accepts no new job (its halt refuses it too, once
  // recorded: this covers the moment before).
  std::vector<core::FanOutLink> above;
  for (JobPtr j = parent; j; j = j->parent.lock()) {
    if (j->rec.budget) {
      if (std::optional<std::string_view> spent = core::SpentLimit(*j->rec.budget, j->rec.usage)) {
        return SpentError(j->rec, *spent);
      }
    }
    above.push_back(core::FanOutLink{j->rec.id, j->rec.budget, j->rec.usage});
  }
  if (std::optional<core::BudgetRefusal> r = core::CheckFanOut(above)) {
    return Refused(*r, "one more job would exceed " + r->limit + " of job " + r->job_id);
  }
  a.pool = PoolAt(parent);
  if (budget && a.pool) {
    if (std::optional<core::BudgetRefusal> r = core::CheckReservation(PoolOf(*a.pool), *budget)) {
      return Refused(
          *r, "the budget does not fit what job " + r->job_id + " has left (" + r->limit + ")");
    }
    a.reserved = core::Reservation{budget->usd.value_or(0), budget->tokens.value_or(0)};
    a.pool->pending_reserved.usd += a.reserved.usd;
    a.pool->pending_reserved.tokens += a.reserved.tokens;
  }
  ++parent->rec.usage.children;
  for (JobPtr j = parent; j; j = j->parent.lock()) {
    ++j->rec.usage.descendants;
    MarkDirty(j);
  }
  return a;
}

void Budgets::Linked(const BudgetAdmission& a) {
  if (!a.pool) return;
  a.pool->pending_reserved.usd -= a.reserved.usd;
  a.pool->pending_reserved.tokens -= a.reserved.tokens;
}

void Budgets::Abandon(const BudgetAdmission& a) {
  Linked(a);
  if (!a.parent) return;
  --a.parent->rec.usage.children;
  for (JobPtr j = a.parent; j; j = j->parent.lock()) {
    --j->rec.usage.descendants;
    MarkDirty(j);
  }
}

void Budgets::Charge(LiveWorker& w, const UsageDelta& delta) {
  const core::Charge c = core::ChargeOf(delta.cost_usd, delta.total_tokens());
  if (c.empty()) return;
  for (JobPtr j = w.job; j; j = j->parent.lock()) {
    j->rec.usage.usd += c.usd;
    j->rec.usage.tokens += c.tokens;
    MarkDirty(j);
    CheckSpent(j);
  }
}

void Budgets::CheckSpent(const JobPtr& job) {
  if (!job->rec.budget || job->budget_exhausting || ctx_.shutting_down) return;
  if (core::IsTerminalJobState(job->rec.status)) return;
  const std::optional<std::string_view> spent = core::SpentLimit(*job->rec.budget, job->rec.usage);
  if (!spent) return;
  // Halted already (by hand, or its budget): nothing of it runs; an ancestor's halt likewise.
  if (HaltedAt(*job) != nullptr) return;
  job->budget_exhausting = true;
  ctx_.tasks.Spawn(Exhaust(job, std::string(*spent)), "budget");
}

asio::awaitable<void> Budgets::Exhaust(JobPtr job, std::string limit) {
  const core::Budget& b = *job->rec.budget;
  core::Halt halt;
  halt.mode = b.on_exhausted == core::BudgetExhaustion::kPause ? core::HaltMode::kFreeze
                                                               : core::HaltMode::kTerminate;
  halt.reason = core::DescribeSpent(limit, b, job->rec.usage);
  halt.by = "budget";
  halt.at = ctx_.clock.NowMs();
  halt.budget = true;
  spdlog::info("job {}: {}; {} its subtree", job->rec.id, halt.reason,
               halt.mode == core::HaltMode::kFreeze ? "pausing" : "terminating");
  co_await halts_.HaltForBudget(job, std::move(halt), limit, ctx_.options.timeout_grace);
  job->budget_exhausting = false;
}

asio::awaitable<Result<core::Job>> Budgets::SetBudget(Caller caller, std::string id,
                                                      std::optional<core::Budget> budget) {
  if (ctx_.shutting_down) {
    co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  }
  if (Status w = halts_.CheckCallerMayWrite(caller); !w) co_return w.error();
  if (!caller.job_id.empty()) {
    // An agent may set the budgets of the jobs below its own, never its own or one above.
    const bool below = id != caller.job_id && co_await access_.CallerReaches(caller, id);
    if (!below) {
      Error e = MakeError(ErrorCode::kInsufficientScope,
                          "a worker token may set budgets only of the jobs below its own");
      e.With("job_id", id);
      co_return e;
    }
  }
  JobPtr job = ctx_.FindJob(caller.workspace_id, id);
  if (!job || core::IsTerminalJobState(job->rec.status)) {
    Result<core::Job> j = co_await RunBlocking(
        ctx_.pool, [this, &caller, &id] { return ctx_.store.GetJob(caller.workspace_id, id); });
    if (!j) co_return j.error();
    const std::string state(core::JobStateName(j->status));
    Error e = MakeError(ErrorCode::kInvalidStateTransition,
                        "the job is " + state + ": its budget can no longer change");
    e.With("job_id", id).With("current_state", state);
    co_return e;
  }
  {
    auto lock = co_await ScopedLock::Acquire(job->mu);
    if (core::IsTerminalJobState(job->rec.status)) {
      const std::string state(core::JobStateName(job->rec.status));
      Error e = MakeError(ErrorCode::kInvalidStateTransition,
                          "the job is " + state + ": its budget can no longer change");
      e.With("job_id", id).With("current_state", state);
      co_return e;
    }
    if (budget) {
      if (JobPtr pool = PoolAt(job->parent.lock())) {
        const core::Budget& old = job->rec.budget ? *job->rec.budget : core::Budget{};
        const core::Reservation current{old.usd.value_or(0), old.tokens.value_or(0)};
        if (std::optional<core::BudgetRefusal> r =
                core::CheckReservation(PoolOf(*pool), *budget, current)) {
          co_return Refused(
              *r, "the budget does not fit what job " + r->job_id + " has left (" + r->limit + ")");
        }
      }
    }
    store::ChangeSet cs;
    cs.job_budgets.push_back(store::JobBudgetChange{job->rec.workspace_id, job->rec.id, budget});
    cs.job_usages.push_back(
        store::JobUsageChange{job->rec.workspace_id, job->rec.id, job->rec.usage});
    if (Status st = co_await ctx_.commits.Commit(cs); !st) co_return st.error();
    job->rec.budget = budget;
  }
  const bool spent = budget && core::SpentLimit(*budget, job->rec.usage).has_value();
  if (job->rec.halted && job->rec.halted->budget && !spent) {
    if (Status st = co_await halts_.LiftBudgetHalt(job, "budget"); !st) co_return st.error();
  } else if (spent) {
    CheckSpent(job);
  }
  co_return job->rec;
}

void Budgets::MarkDirty(const JobPtr& job) {
  // Called for every usage report of every agent: a flag, not a lookup.
  if (!job->usage_dirty) {
    job->usage_dirty = true;
    dirty_.push_back(job);
  }
  if (flush_timer_ || ctx_.shutting_down) return;
  flush_timer_ = std::make_unique<asio::steady_timer>(ctx_.io, kFlushDelay);
  flush_timer_->async_wait([this](boost::system::error_code ec) {
    if (ec || ctx_.shutting_down) return;  // the shutdown writes it
    flush_timer_.reset();
    ctx_.tasks.Spawn(Flush(), "usage");
  });
}

asio::awaitable<void> Budgets::Flush() {
  if (dirty_.empty()) co_return;
  std::vector<JobPtr> jobs;
  jobs.swap(dirty_);
  store::ChangeSet cs;
  for (const JobPtr& j : jobs) {
    j->usage_dirty = false;  // a change while this write runs lists the job again
    cs.job_usages.push_back(store::JobUsageChange{j->rec.workspace_id, j->rec.id, j->rec.usage});
  }
  if (Status st = co_await ctx_.commits.Commit(cs); !st) {
    spdlog::warn("writing the usage of {} job(s): {}", jobs.size(), st.error().message);
    for (const JobPtr& j : jobs) {  // the next write tries again
      if (!j->usage_dirty) {
        j->usage_dirty = true;
        dirty_.push_back(j);
      }
    }
  }
}

}  // namespace overseer::service
