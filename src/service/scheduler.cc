// Scheduler: quotas, the slots workers hold, and the FIFO of jobs waiting for slots.
#include "service/scheduler.h"

#include <spdlog/spdlog.h>

#include "core/events.h"
#include "service/coroutines.h"
#include "service/worker_runner.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::JobState;
using core::WorkerState;

Scheduler::Scheduler(Context& ctx, WorkerRunner& runner)
    : ctx_(ctx), runner_(runner), quotas_(ctx.options.default_quotas, ctx.options.max_depth) {}

int Scheduler::SlotsNeeded(const LiveJob& job) {
  int n = 0;
  for (const WorkerPtr& w : job.workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) ++n;
  }
  return n;
}

Error Scheduler::QuotaExceeded(const std::string& ws, int depth, int requested,
                               std::string message) const {
  Error e = MakeError(ErrorCode::kQuotaExceeded, std::move(message));
  e.With("depth", depth)
      .With("quota", quotas_.Limit(ws, depth))
      .With("used", quotas_.Used(ws, depth))
      .With("requested", requested);
  return e;
}

void Scheduler::TakeSlotFor(LiveWorker& w) {
  quotas_.Take(w.rec.workspace_id, w.job->rec.depth, 1);
  w.new_allocation = NewAllocation(*w.job, w.rec.id, ctx_.clock.NowMs());
  w.new_allocation_limit.reset();
}

Status Scheduler::TakeFreeSlotFor(LiveWorker& w) {
  const std::string& ws = w.rec.workspace_id;
  const int depth = w.job->rec.depth;
  if (!quotas_.Fits(ws, depth, 1)) {
    Error e = QuotaExceeded(ws, depth, 1,
                            "no free worker slot at depth " + std::to_string(depth) +
                                ": resume once another worker there has ended or paused, or "
                                "raise the quota (PUT /api/resources/quotas)");
    e.With("worker_id", w.rec.id);
    return e;
  }
  TakeSlotFor(w);
  w.new_allocation_limit = SlotLimitOf(ws, depth);
  return OkStatus();
}

Status Scheduler::TakeSlots(const std::string& ws, int depth, int n,
                            const std::string& what_to_do) {
  if (!quotas_.Fits(ws, depth, n)) return QuotaExceeded(ws, depth, n, what_to_do);
  quotas_.Take(ws, depth, n);
  return OkStatus();
}

Status Scheduler::CheckCanEverStart(const std::string& ws, int depth, int worker_count) const {
  if (worker_count <= quotas_.Limit(ws, depth)) return OkStatus();
  Error e = QuotaExceeded(ws, depth, worker_count,
                          "worker_count " + std::to_string(worker_count) +
                              " is more than the quota of depth " + std::to_string(depth) + " (" +
                              std::to_string(quotas_.Limit(ws, depth)) +
                              "): lower it or raise the quota (PUT /api/resources/quotas)");
  e.With("field", "worker_count");
  return e;
}

void Scheduler::LoadLimits(const std::vector<core::Quota>& rows) {
  for (const core::Quota& q : rows) quotas_.SetLimit(q.workspace_id, q.depth, q.max_workers);
}

void Scheduler::Adopt(const std::string& ws, int depth, int n) { quotas_.Take(ws, depth, n); }

void Scheduler::ReturnUnusedSlot(LiveWorker& w) {
  if (!w.new_allocation || !w.job) return;
  w.new_allocation.reset();
  w.new_allocation_limit.reset();
  ReleaseSlots(w.rec.workspace_id, w.job->rec.depth, 1);
}

void Scheduler::ReleaseSlots(const std::string& ws, int depth, int n) {
  quotas_.Give(ws, depth, n);
  ScheduleQueued(ws, depth);
}

void Scheduler::ScheduleQueued(const std::string& ws, int depth) {
  auto it = queued_.find({ws, depth});
  if (it == queued_.end() || ctx_.shutting_down) return;
  std::deque<JobPtr>& q = it->second;
  // Strict FIFO: a big job at the head is not overtaken by smaller ones behind it.
  while (!q.empty()) {
    JobPtr job = q.front();
    if (core::IsTerminalJobState(job->rec.status)) {
      q.pop_front();
      continue;
    }
    const int slots = SlotsNeeded(*job);
    if (!quotas_.Fits(ws, depth, slots)) break;
    q.pop_front();
    quotas_.Take(ws, depth, slots);
    ctx_.tasks.Spawn(internal::Discard(StartQueued(job, slots)), "start queued job");
  }
  if (q.empty()) queued_.erase(it);
}

asio::awaitable<void> Scheduler::StartQueued(JobPtr job, int slots) {
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  // Our own references: a job that ends meanwhile may be forgotten (its list cleared) while
  // these locks are held.
  const std::vector<WorkerPtr> workers = job->workers;
  std::vector<ScopedLock> locks;
  locks.reserve(workers.size() + 1);
  for (const WorkerPtr& w : workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  // The job's mu is held from the check below through the commit of the start: a cancel
  // cannot slip in between, and nothing is spawned for a job that has ended.
  locks.push_back(co_await ScopedLock::Acquire(job->mu));
  std::vector<WorkerPtr> to_start;
  for (const WorkerPtr& w : workers) {
    if (w->rec.status == WorkerState::kIdle && w->allocation_id.empty()) to_start.push_back(w);
  }
  if (core::IsTerminalJobState(job->rec.status) || static_cast<int>(to_start.size()) != slots) {
    locks.clear();
    ReleaseSlots(ws, depth, slots);  // canceled (or changed) while it waited
    co_return;
  }
  store::ChangeSet cs;
  Result<std::vector<WorkerPtr>> not_started = co_await runner_.StartWorkers(job, to_start, cs);
  locks.clear();
  if (!not_started) {
    const ErrorCode code = not_started.error().code;
    if ((code == ErrorCode::kQuotaExceeded || code == ErrorCode::kUnavailable) &&
        !core::IsTerminalJobState(job->rec.status) && !ctx_.shutting_down) {
      // Nothing was written (StartWorkers gave the slots back): the job stays PENDING at the
      // head of its queue and is tried again.
      spdlog::info("job {}: start refused by the database ({}); trying again in {} ms", job->rec.id,
                   not_started.error().message, kStartRetryDelay.count());
      queued_[{ws, depth}].push_front(job);
      RetryLater(ws, depth);
      co_return;
    }
    spdlog::error("job {}: could not record its start: {}", job->rec.id,
                  not_started.error().message);
    co_return;
  }
  // The job left PENDING (its row is in the same commit as the workers' start).
  for (const WorkerPtr& w : *not_started) {
    auto lock = co_await ScopedLock::Acquire(w->mu);
    Status s = co_await runner_.Fail(w, "SPAWN_FAILED", std::nullopt);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
}

void Scheduler::RetryLater(const std::string& ws, int depth) {
  retry_due_.emplace(ws, depth);
  if (retry_timer_) return;  // armed: tries every queue due when it fires
  retry_timer_ = std::make_unique<asio::steady_timer>(ctx_.io, kStartRetryDelay);
  retry_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || ctx_.shutting_down) return;
    retry_timer_.reset();
    std::set<std::pair<std::string, int>> due;
    due.swap(retry_due_);
    for (const auto& [due_ws, due_depth] : due) ScheduleQueued(due_ws, due_depth);
  });
}

void Scheduler::Enqueue(const JobPtr& job) {
  queued_[{job->rec.workspace_id, job->rec.depth}].push_back(job);
  ScheduleQueued(job->rec.workspace_id, job->rec.depth);
}

QuotasView Scheduler::GetQuotas(const Caller& caller) const {
  QuotasView v;
  v.max_depth = quotas_.max_depth();
  for (int d = 0; d <= v.max_depth; ++d) {
    v.quotas.push_back(
        QuotaView{d, quotas_.Limit(caller.workspace_id, d), quotas_.Used(caller.workspace_id, d)});
  }
  return v;
}

asio::awaitable<Result<QuotasView>> Scheduler::SetQuotas(Caller caller,
                                                         std::vector<std::pair<int, int>> limits) {
  std::vector<core::Quota> rows;
  const TimeMs now = ctx_.clock.NowMs();
  for (const auto& [depth, max_workers] : limits) {
    if (depth < 0 || depth > quotas_.max_depth()) {
      Error e = MakeError(ErrorCode::kInvalidRequest,
                          "quotas: depth must be 0.." + std::to_string(quotas_.max_depth()));
      e.With("field", "quotas").With("depth", depth).With("max_depth", quotas_.max_depth());
      co_return e;
    }
    rows.push_back(core::Quota{caller.workspace_id, depth, max_workers, now});
  }
  // One commit with their events (quota.changed); memory follows, then jobs waiting for
  // slots start if they now fit.
  store::ChangeSet cs;
  cs.quotas = rows;
  for (const core::Quota& q : rows) cs.events.push_back(core::QuotaChangedEvent(q, now));
  Status st = co_await ctx_.commits.Commit(cs);
  if (!st) co_return st.error();
  for (const core::Quota& q : rows) quotas_.SetLimit(q.workspace_id, q.depth, q.max_workers);
  ctx_.bus.Publish(cs.events);
  for (const core::Quota& q : rows) ScheduleQueued(q.workspace_id, q.depth);
  co_return GetQuotas(caller);
}

asio::awaitable<Status> Scheduler::Admit(const JobPtr& job, store::ChangeSet& cs,
                                         const std::function<Status()>& still_open) {
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  const std::string ws = job->rec.workspace_id;
  const int depth = job->rec.depth;
  const int slots = static_cast<int>(job->workers.size());
  const bool waits_for_jobs = !job->waiting_on.empty();
  // The job and its workers are findable before their rows are committed (under their
  // locks: this job_lock, and the workers' that CreateJob holds): a request that learns an id
  // from the database in between (a list) waits for the lock and then sees the job as
  // recorded, instead of a worker no one supervises or a job taken for another daemon's.
  // Forgotten again if the commit fails.
  ctx_.jobs[job->rec.id] = job;
  for (const WorkerPtr& w : job->workers) ctx_.workers[w->rec.id] = w;
  auto forget_workers = [this, &job] {
    for (const WorkerPtr& w : job->workers) {
      auto it = ctx_.workers.find(w->rec.id);
      if (it != ctx_.workers.end() && it->second == w) ctx_.workers.erase(it);
    }
    auto it = ctx_.jobs.find(job->rec.id);
    if (it != ctx_.jobs.end() && it->second == job) ctx_.jobs.erase(it);
  };
  if (still_open) {
    if (Status open = still_open(); !open) {
      forget_workers();
      co_return open;
    }
  }
  if (waits_for_jobs || queued_.count({ws, depth}) != 0 || !quotas_.Fits(ws, depth, slots)) {
    // Dependencies not done, or no slots (or jobs ahead of it waiting for some): recorded
    // PENDING with IDLE workers. A job waiting for slots is queued, and ScheduleQueued starts
    // it when slots are released or the quota grows; one waiting for jobs is queued when the
    // last of them completes (AfterDependencyEnded).
    job->rec.status_reason = waits_for_jobs ? "WAITING_FOR_DEPENDENCIES" : "WAITING_FOR_QUOTA";
    for (core::Job& j : cs.new_jobs) {
      if (j.id == job->rec.id) j.status_reason = job->rec.status_reason;
    }
    Status st = co_await ctx_.commits.Commit(cs);
    if (!st) {
      forget_workers();
      co_return st;
    }
    ctx_.throughput.Count(Tally::kJobsSubmitted, ws);
    if (!waits_for_jobs) queued_[{ws, depth}].push_back(job);
    ctx_.bus.Publish(cs.events);
    co_return OkStatus();
  }
  quotas_.Take(ws, depth, slots);
  Result<std::vector<WorkerPtr>> not_started = co_await runner_.StartWorkers(job, job->workers, cs);
  if (!not_started) {
    forget_workers();
    co_return not_started.error();
  }
  ctx_.throughput.Count(Tally::kJobsSubmitted, ws);
  job_lock.Release();
  // Workers whose process could not start: an attempt that failed at once (RUNNING, FAILED).
  for (const WorkerPtr& w : *not_started) {
    Status s = co_await runner_.Fail(w, "SPAWN_FAILED", std::nullopt);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
  // (A job those failures end was handed to AfterJobChange by their Transition.)
  co_return OkStatus();
}
}  // namespace overseer::service
