#include "service/supervisor.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <random>

#include "common/ids.h"

namespace overseer::service {
namespace asio = boost::asio;
namespace json = boost::json;
using core::JobState;
using core::WorkerEvent;
using core::WorkerState;

namespace {

// Runs `start(done)` and resumes once `done` has been called (possibly synchronously).
asio::awaitable<void> AwaitCallback(const std::function<void(std::function<void()>)>& start) {
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  auto fired = std::make_shared<bool>(false);
  start([timer, fired] {
    *fired = true;
    timer->cancel();
  });
  if (!*fired) {
    (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

void LogFailure(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("{} failed: {}", what, ex.what());
  }
}

double Random01() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Finished workers whose GET answer is kept in memory (about 1-2 KB each).
constexpr size_t kFinishedViewCacheEntries = 4096;

core::Event MakeEvent(const std::string& ws, std::string kind, const std::string& subject,
                      json::object data, TimeMs now) {
  core::Event e;
  e.workspace_id = ws;
  e.kind = std::move(kind);
  e.subject_id = subject;
  e.data_json = json::serialize(data);
  e.created_at = now;
  return e;
}

}  // namespace

Supervisor::Supervisor(asio::io_context& io, BlockingPool& pool, store::Store& store,
                       proc::ProcessManager& procs, SupervisorOptions options, TokenMinter minter,
                       const Clock& clock)
    : io_(io),
      pool_(pool),
      store_(store),
      procs_(procs),
      options_(std::move(options)),
      minter_(std::move(minter)),
      clock_(clock),
      started_at_(clock.NowMs()),
      finished_views_(kFinishedViewCacheEntries) {}

Supervisor::~Supervisor() {
  for (auto& [id, job] : jobs_) job->workers.clear();  // break reference cycles
  for (auto& [id, w] : workers_) w->job.reset();
}

std::string Supervisor::LogPath(const std::string& worker_id) const {
  return options_.state_dir + "/logs/" + worker_id + ".log";
}

bool Supervisor::IsJobActive(const std::string& job_id) const {
  auto it = jobs_.find(job_id);
  return it != jobs_.end() && !core::IsTerminalJobState(it->second->rec.status);
}

// ---------------------------------------------------------------------------------------
// Transitions

Result<Supervisor::Planned> Supervisor::PlanTransition(
    const LiveWorker& w, WorkerEvent event, const std::string& reason,
    const std::function<void(core::Worker&)>& mutate, TimeMs now, store::ChangeSet& cs) const {
  Result<WorkerState> next = core::NextWorkerState(w.rec.status, event);
  if (!next) {
    Error err = next.error();
    err.With("worker_id", w.rec.id);
    return err;
  }
  Planned plan;
  core::Worker& updated = plan.worker;
  updated = w.rec;
  updated.status = *next;
  updated.status_reason = reason;
  updated.updated_at = now;
  if (mutate) mutate(updated);
  plan.transition =
      core::Transition{std::string(core::WorkerStateName(w.rec.status)),
                       std::string(core::WorkerStateName(updated.status)), reason, now};
  cs.worker_updates.push_back(store::WorkerUpdate{updated, w.rec.status, plan.transition});
  cs.events.push_back(MakeEvent(updated.workspace_id, "worker.state", updated.id,
                                {{"job_id", updated.job_id},
                                 {"from", core::WorkerStateName(w.rec.status)},
                                 {"to", core::WorkerStateName(updated.status)},
                                 {"reason", reason},
                                 {"attempt", updated.attempt}},
                                now));
  const LiveJob* job = w.job.get();
  if (job == nullptr) return plan;
  std::vector<WorkerState> states;
  states.reserve(job->workers.size());
  for (const WorkerPtr& sibling : job->workers) {
    states.push_back(sibling.get() == &w ? updated.status : sibling->rec.status);
  }
  std::optional<JobState> js = core::JobStatusFromWorkers(job->rec.status, states);
  if (!js) return plan;
  core::Job j = job->rec;
  j.status = *js;
  j.updated_at = now;
  if (*js == JobState::kRunning && j.started_at == 0) j.started_at = now;
  if (core::IsTerminalJobState(*js)) {
    j.completed_at = now;
    j.status_reason = *js == JobState::kCompleted                  ? "ALL_WORKERS_COMPLETED"
                      : updated.status == WorkerState::kTerminated ? "WORKER_TERMINATED"
                                                                   : "WORKER_FAILED";
    json::array codes;
    for (const WorkerPtr& sibling : job->workers) {
      const core::Worker& r = sibling.get() == &w ? updated : sibling->rec;
      if (r.exit_code) {
        codes.push_back(*r.exit_code);
      } else {
        codes.push_back(nullptr);
      }
    }
    j.result_json = json::serialize(json::object{{"exit_codes", codes}});
  } else {
    j.status_reason = "WORKERS_STARTED";
  }
  cs.job_updates.push_back(store::JobUpdate{j, job->rec.status});
  cs.events.push_back(MakeEvent(j.workspace_id, "job.state", j.id,
                                {{"from", core::JobStateName(job->rec.status)},
                                 {"to", core::JobStateName(j.status)},
                                 {"reason", j.status_reason}},
                                now));
  plan.job = std::move(j);
  return plan;
}

bool Supervisor::CommitPlanned(LiveWorker& w, Planned&& plan) {
  w.rec = std::move(plan.worker);
  if (w.history_complete) w.history.push_back(std::move(plan.transition));
  if (!plan.job || !w.job) return false;
  w.job->rec = std::move(*plan.job);
  return true;
}

asio::awaitable<Status> Supervisor::Transition(const WorkerPtr& w, WorkerEvent event,
                                               std::string reason,
                                               const std::function<void(core::Worker&)>& mutate) {
  std::shared_ptr<LiveJob> job = w->job;
  ScopedLock job_lock;
  if (job) job_lock = co_await ScopedLock::Acquire(job->mu);
  store::ChangeSet cs;
  Result<Planned> plan = PlanTransition(*w, event, reason, mutate, clock_.NowMs(), cs);
  if (!plan) co_return plan.error();
  Status st = co_await RunBlocking(pool_, [this, &cs] { return store_.Apply(cs); });
  if (!st) co_return st;
  if (CommitPlanned(*w, std::move(*plan))) {
    job_lock.Release();
    AfterJobChange(job);
  }
  co_return OkStatus();
}

asio::awaitable<Status> Supervisor::Fail(const WorkerPtr& w, std::string reason,
                                         std::optional<proc::ExitStatus> exit) {
  const TimeMs now = clock_.NowMs();
  auto record_exit = [&](core::Worker& r) {
    r.ended_at = now;
    if (exit) {
      if (exit->term_signal == 0) {
        r.exit_code = exit->exit_code;
      } else {
        r.exit_signal = exit->term_signal;
      }
    }
  };
  const bool retry_left = w->job && w->rec.attempt < w->job->rec.retry.max_attempts &&
                          !core::IsTerminalJobState(w->job->rec.status) && !shutting_down_;
  if (!retry_left) {
    co_return co_await Transition(w, WorkerEvent::kExitedBad, reason, record_exit);
  }
  // FAILED then RETRYING in one transaction, so the job never sees a retryable failure.
  Result<WorkerState> failed = core::NextWorkerState(w->rec.status, WorkerEvent::kExitedBad);
  if (!failed) co_return failed.error();
  core::Worker f = w->rec;
  f.status = WorkerState::kFailed;
  f.status_reason = reason;
  f.updated_at = now;
  record_exit(f);
  core::Worker r = f;
  r.status = WorkerState::kRetrying;
  r.status_reason = "RETRY_SCHEDULED";
  const int64_t delay = core::BackoffMs(w->job->rec.retry, w->rec.attempt, Random01());
  store::ChangeSet cs;
  cs.worker_updates.push_back(store::WorkerUpdate{
      f, w->rec.status,
      core::Transition{std::string(core::WorkerStateName(w->rec.status)), "FAILED", reason, now}});
  cs.worker_updates.push_back(store::WorkerUpdate{
      r, WorkerState::kFailed, core::Transition{"FAILED", "RETRYING", "RETRY_SCHEDULED", now}});
  cs.events.push_back(MakeEvent(r.workspace_id, "worker.state", r.id,
                                {{"job_id", r.job_id},
                                 {"from", core::WorkerStateName(w->rec.status)},
                                 {"to", "RETRYING"},
                                 {"reason", reason},
                                 {"attempt", r.attempt},
                                 {"retry_in_ms", delay}},
                                now));
  Status st = co_await RunBlocking(pool_, [this, &cs] { return store_.Apply(cs); });
  if (!st) co_return st;
  if (w->history_complete) {
    for (const store::WorkerUpdate& u : cs.worker_updates) w->history.push_back(u.transition);
  }
  w->rec = std::move(r);
  w->retry_timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(delay));
  const int attempt = w->rec.attempt;
  w->retry_timer->async_wait([this, w, attempt](boost::system::error_code ec) {
    if (ec) return;
    asio::co_spawn(io_, OnRetryDue(w, attempt),
                   [](std::exception_ptr e) { LogFailure(e, "retry"); });
  });
  co_return OkStatus();
}

// ---------------------------------------------------------------------------------------
// Spawning

proc::SpawnSpec Supervisor::BuildSpawnSpec(const LiveWorker& w) const {
  proc::SpawnSpec spec;
  spec.unit_name = w.rec.id;
  spec.log_path = LogPath(w.rec.id);
  spec.log_max_bytes = options_.log_max_bytes;
  spec.env = options_.base_env;
  boost::system::error_code ec;
  json::value task = json::parse(w.job ? w.job->rec.task_json : std::string("{}"), ec);
  if (!ec && task.is_object()) {
    const json::object& t = task.as_object();
    if (const json::value* cmd = t.if_contains("command"); cmd && cmd->is_array()) {
      for (const json::value& a : cmd->as_array()) {
        if (a.is_string()) spec.argv.emplace_back(a.as_string());
      }
    }
    if (const json::value* cwd = t.if_contains("cwd"); cwd && cwd->is_string()) {
      spec.cwd = std::string(cwd->as_string());
    }
    if (const json::value* env = t.if_contains("env"); env && env->is_object()) {
      for (const auto& kv : env->as_object()) {
        if (kv.value().is_string()) {
          spec.env.push_back(std::string(kv.key()) + "=" + std::string(kv.value().as_string()));
        }
      }
    }
  }
  if (w.job) {
    spec.env.push_back("OVERSEER_URL=" + options_.daemon_url);
    spec.env.push_back("OVERSEER_JOB_ID=" + w.job->rec.id);
    spec.env.push_back("OVERSEER_WORKER_ID=" + w.rec.id);
    spec.env.push_back("OVERSEER_DEPTH=" + std::to_string(w.job->rec.depth));
    if (minter_) {
      std::string token = minter_(w.rec.workspace_id, w.job->rec.id, w.job->rec.depth);
      if (!token.empty()) spec.env.push_back("OVERSEER_TOKEN=" + token);
    }
  }
  return spec;
}

Result<std::shared_ptr<proc::Process>> Supervisor::StartProcess(const WorkerPtr& w, int attempt) {
  proc::SpawnSpec spec = BuildSpawnSpec(*w);
  w->exit.reset();
  w->terminating = false;
  std::weak_ptr<LiveWorker> weak = w;
  proc::ProcessCallbacks callbacks;
  callbacks.on_exit = [this, weak, attempt](proc::ExitStatus st) {
    WorkerPtr wp = weak.lock();
    if (!wp) return;
    if (wp->rec.attempt == attempt || wp->rec.attempt == attempt - 1) wp->exit = st;
    ++counters_.workers_exited;
    asio::co_spawn(io_, OnExit(wp, attempt), [](std::exception_ptr e) { LogFailure(e, "exit"); });
  };
  callbacks.on_stopped = [this, weak] {
    if (WorkerPtr wp = weak.lock()) {
      asio::co_spawn(io_, OnStopOrContinue(wp, true),
                     [](std::exception_ptr e) { LogFailure(e, "stop"); });
    }
  };
  callbacks.on_continued = [this, weak] {
    if (WorkerPtr wp = weak.lock()) {
      asio::co_spawn(io_, OnStopOrContinue(wp, false),
                     [](std::exception_ptr e) { LogFailure(e, "continue"); });
    }
  };
  if (spec.argv.empty()) return MakeError(ErrorCode::kInvalidRequest, "empty command");
  Result<std::shared_ptr<proc::Process>> p = procs_.Spawn(spec, std::move(callbacks));
  if (!p) {
    ++counters_.spawn_failures;
    spdlog::warn("worker {}: spawn failed: {}", w->rec.id, p.error().message);
    return p;
  }
  ++counters_.workers_spawned;
  return p;
}

void Supervisor::RecordSpawn(core::Worker& r, const proc::Process& p, int attempt, TimeMs now) {
  r.attempt = attempt;
  r.pid = p.pid();
  r.pgid = p.pgid();
  r.cgroup_path = p.cgroup_path();
  r.started_at = now;
  r.ended_at = 0;
  r.exit_code.reset();
  r.exit_signal.reset();
}

void Supervisor::ArmTimeout(const WorkerPtr& w, int attempt) {
  const int64_t timeout_s = w->job ? w->job->rec.timeout_seconds : 0;
  if (timeout_s <= 0) return;
  w->timeout_timer = std::make_unique<asio::steady_timer>(io_, std::chrono::seconds(timeout_s));
  w->timeout_timer->async_wait([this, w, attempt](boost::system::error_code ec) {
    if (ec) return;
    asio::co_spawn(io_, OnTimeout(w, attempt),
                   [](std::exception_ptr e) { LogFailure(e, "timeout"); });
  });
}

asio::awaitable<Status> Supervisor::RecordSpawnFailure(const WorkerPtr& w, WorkerEvent event,
                                                       int attempt) {
  // The record shows an attempt that ran and failed at once: RUNNING then FAILED.
  const TimeMs now = clock_.NowMs();
  Status st = co_await Transition(w, event, "SPAWNED", [&](core::Worker& r) {
    r.attempt = attempt;
    r.started_at = now;
    r.ended_at = 0;
    r.pid = 0;
    r.exit_code.reset();
    r.exit_signal.reset();
  });
  if (!st) co_return st;
  co_return co_await Fail(w, "SPAWN_FAILED", std::nullopt);
}

asio::awaitable<Status> Supervisor::Spawn(const WorkerPtr& w) {
  const bool respawn = w->rec.status == WorkerState::kRetrying;
  const WorkerEvent event = respawn ? WorkerEvent::kRespawned : WorkerEvent::kSpawned;
  Result<WorkerState> legal = core::NextWorkerState(w->rec.status, event);
  if (!legal) co_return legal.error();
  const int attempt = w->rec.attempt + 1;
  Result<std::shared_ptr<proc::Process>> p = StartProcess(w, attempt);
  const TimeMs now = clock_.NowMs();
  if (!p) co_return co_await RecordSpawnFailure(w, event, attempt);
  w->process = *p;
  Status st = co_await Transition(w, event, respawn ? "RESPAWNED" : "SPAWNED",
                                  [&](core::Worker& r) { RecordSpawn(r, **p, attempt, now); });
  if (!st) {
    // The record could not say RUNNING: do not leave an unrecorded process behind.
    spdlog::error("worker {}: could not record spawn: {}", w->rec.id, st.error().message);
    co_await KillTree(w, std::chrono::milliseconds(0));
    co_return st;
  }
  ArmTimeout(w, attempt);
  co_return OkStatus();
}

asio::awaitable<Status> Supervisor::SpawnNewJob(const std::shared_ptr<LiveJob>& job,
                                                store::ChangeSet& cs) {
  auto job_lock = co_await ScopedLock::Acquire(job->mu);
  const TimeMs now = clock_.NowMs();
  std::vector<WorkerPtr> started;
  std::vector<WorkerPtr> not_started;
  Status st;
  for (const WorkerPtr& w : job->workers) {
    Result<std::shared_ptr<proc::Process>> p = StartProcess(w, 1);
    if (!p) {
      not_started.push_back(w);
      continue;
    }
    w->process = *p;
    started.push_back(w);
    Result<Planned> plan = PlanTransition(
        *w, WorkerEvent::kSpawned, "SPAWNED", [&](core::Worker& r) { RecordSpawn(r, **p, 1, now); },
        now, cs);
    if (!plan) {
      st = plan.error();
      break;
    }
    // Memory runs ahead of the commit here so that the next worker's plan sees this one
    // RUNNING; nobody else sees these objects before they are published below.
    CommitPlanned(*w, std::move(*plan));
  }
  if (st) st = co_await RunBlocking(pool_, [this, &cs] { return store_.Apply(cs); });
  if (!st) {
    for (const WorkerPtr& w : started) {
      co_await KillTree(w, std::chrono::milliseconds(0));
      w->process.reset();
    }
    co_return st;
  }
  ++counters_.jobs_submitted;
  jobs_[job->rec.id] = job;
  for (const WorkerPtr& w : job->workers) workers_[w->rec.id] = w;
  for (const WorkerPtr& w : started) ArmTimeout(w, 1);
  job_lock.Release();
  // Workers whose process could not start: recorded as an attempt that failed at once.
  for (const WorkerPtr& w : not_started) {
    Status s = co_await RecordSpawnFailure(w, WorkerEvent::kSpawned, 1);
    if (!s) spdlog::error("worker {}: {}", w->rec.id, s.error().message);
  }
  if (core::IsTerminalJobState(job->rec.status)) AfterJobChange(job);
  co_return OkStatus();
}

asio::awaitable<void> Supervisor::KillTree(const WorkerPtr& w, std::chrono::milliseconds grace) {
  if (!w->process) co_return;
  w->terminating = true;
  std::shared_ptr<proc::Process> p = w->process;
  co_await AwaitCallback(
      [&](std::function<void()> done) { procs_.Terminate(p, grace, std::move(done)); });
}

// ---------------------------------------------------------------------------------------
// Process events

asio::awaitable<void> Supervisor::OnExit(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->terminating) co_return;
  if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) co_return;
  if (w->timeout_timer) w->timeout_timer->cancel();
  const proc::ExitStatus st = w->exit.value_or(proc::ExitStatus{});
  // The main process is gone; end what it left in its group or cgroup.
  co_await KillTree(w, std::chrono::milliseconds(0));
  w->process.reset();
  w->terminating = false;
  Status s;
  if (st.term_signal == 0 && st.exit_code == 0) {
    const TimeMs now = clock_.NowMs();
    s = co_await Transition(w, WorkerEvent::kExitedOk, "EXITED", [&](core::Worker& r) {
      r.exit_code = 0;
      r.ended_at = now;
    });
  } else {
    s = co_await Fail(w, st.term_signal != 0 ? "KILLED_BY_SIGNAL" : "EXIT_NONZERO", st);
  }
  if (!s) spdlog::error("worker {}: could not record exit: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnTimeout(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->terminating) co_return;
  if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) co_return;
  spdlog::info("worker {}: timeout after {} s", w->rec.id,
               w->job ? w->job->rec.timeout_seconds : 0);
  co_await KillTree(w, options_.timeout_grace);
  w->process.reset();
  w->terminating = false;
  Status s = co_await Fail(w, "TIMEOUT", w->exit);
  if (!s) spdlog::error("worker {}: could not record timeout: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnRetryDue(WorkerPtr w, int attempt) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->rec.attempt != attempt || w->rec.status != WorkerState::kRetrying || shutting_down_) {
    co_return;
  }
  Status s = co_await Spawn(w);
  if (!s) spdlog::error("worker {}: respawn failed: {}", w->rec.id, s.error().message);
}

asio::awaitable<void> Supervisor::OnStopOrContinue(WorkerPtr w, bool stopped) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  if (w->terminating || !w->process) co_return;
  Status s;
  if (stopped && w->rec.status == WorkerState::kRunning) {
    // Someone else's SIGSTOP: the record follows reality, and the whole tree pauses with it.
    (void)procs_.Pause(*w->process);
    s = co_await Transition(w, WorkerEvent::kStoppedOutside, "STOPPED_EXTERNALLY", nullptr);
  } else if (!stopped && w->rec.status == WorkerState::kPaused) {
    (void)procs_.Resume(*w->process);
    s = co_await Transition(w, WorkerEvent::kContinuedOutside, "CONTINUED_EXTERNALLY", nullptr);
  }
  if (!s) spdlog::warn("worker {}: {}", w->rec.id, s.error().message);
}

void Supervisor::AfterJobChange(const std::shared_ptr<LiveJob>& job) {
  if (!core::IsTerminalJobState(job->rec.status)) return;
  if (job->rec.status == JobState::kFailed) {
    // A failed job's remaining workers are ended (as Kubernetes does with a failed Job).
    for (const WorkerPtr& sibling : job->workers) {
      const WorkerState s = sibling->rec.status;
      if (s == WorkerState::kRunning || s == WorkerState::kPaused || s == WorkerState::kIdle ||
          s == WorkerState::kRetrying) {
        asio::co_spawn(io_, TerminateLocked(sibling, options_.timeout_grace, "JOB_FAILED"),
                       [](std::exception_ptr e, Status) { LogFailure(e, "terminate"); });
      }
    }
  }
  Forget(job);
}

void Supervisor::Forget(const std::shared_ptr<LiveJob>& job) {
  // Drop the job and its workers from memory once nothing of theirs can change.
  for (const WorkerPtr& w : job->workers) {
    const WorkerState s = w->rec.status;
    if (s != WorkerState::kCompleted && s != WorkerState::kTerminated &&
        s != WorkerState::kFailed) {
      return;
    }
    if (w->process) return;
  }
  if (!core::IsTerminalJobState(job->rec.status)) return;
  for (const WorkerPtr& w : job->workers) workers_.erase(w->rec.id);
  jobs_.erase(job->rec.id);
  job->workers.clear();  // break the job <-> worker reference cycle
}

// ---------------------------------------------------------------------------------------
// Jobs

asio::awaitable<Result<core::Job>> Supervisor::CreateJob(Caller caller, JobSpec spec) {
  if (shutting_down_) co_return MakeError(ErrorCode::kUnavailable, "the daemon is shutting down");
  std::string parent_id = spec.parent_job_id;
  if (parent_id.empty() && !caller.job_id.empty()) parent_id = caller.job_id;
  int depth = 0;
  if (!parent_id.empty()) {
    Result<core::Job> parent = co_await RunBlocking(pool_, [this, &caller, &parent_id] {
      return store_.GetJob(caller.workspace_id, parent_id);
    });
    if (!parent) {
      if (parent.error().code != ErrorCode::kNotFound) co_return parent.error();
      Error e = MakeError(ErrorCode::kInvalidRequest, "parent_job_id: no such job");
      e.With("field", "parent_job_id");
      co_return e;
    }
    if (!caller.job_id.empty() && parent_id != caller.job_id) {
      // A worker token may create jobs only under its own subtree: walk up from the parent.
      std::string cur = parent->parent_job_id;
      bool inside = false;
      for (int hops = 0; !cur.empty() && hops <= options_.max_depth + 1; ++hops) {
        if (cur == caller.job_id) {
          inside = true;
          break;
        }
        Result<core::Job> up = co_await RunBlocking(
            pool_, [this, &caller, &cur] { return store_.GetJob(caller.workspace_id, cur); });
        if (!up) break;
        cur = up->parent_job_id;
      }
      if (!inside) {
        Error e = MakeError(ErrorCode::kInsufficientScope,
                            "a worker token may create jobs only under its own job");
        e.With("field", "parent_job_id");
        co_return e;
      }
    }
    depth = parent->depth + 1;
  }
  if (spec.depth && *spec.depth != depth) {
    Error e = MakeError(ErrorCode::kInvalidRequest,
                        "depth must equal the parent's depth + 1 (" + std::to_string(depth) + ")");
    e.With("field", "depth").With("expected", depth);
    co_return e;
  }
  if (depth > options_.max_depth) {
    Error e = MakeError(ErrorCode::kMaxDepthExceeded, "job would be deeper than max_depth");
    e.With("depth", depth).With("max_depth", options_.max_depth);
    co_return e;
  }

  const TimeMs now = clock_.NowMs();
  auto job = std::make_shared<LiveJob>();
  core::Job& j = job->rec;
  j.id = NewId("j_");
  j.workspace_id = caller.workspace_id;
  j.name = spec.name;
  j.status = JobState::kPending;
  j.status_reason = "ACCEPTED";
  j.depth = depth;
  j.parent_job_id = parent_id;
  j.worker_count = spec.worker_count;
  j.timeout_seconds = spec.timeout_seconds;
  j.retry = spec.retry;
  j.task_json = spec.task_json;
  j.metadata_json = spec.metadata_json.empty() ? "{}" : spec.metadata_json;
  j.created_at = now;
  j.updated_at = now;

  store::ChangeSet cs;
  cs.new_jobs.push_back(j);
  for (int i = 0; i < spec.worker_count; ++i) {
    auto w = std::make_shared<LiveWorker>();
    w->job = job;
    core::Worker& r = w->rec;
    r.id = NewId("w_");
    r.workspace_id = j.workspace_id;
    r.job_id = j.id;
    r.status = WorkerState::kIdle;
    r.status_reason = "CREATED";
    r.metadata_json = j.metadata_json;
    r.log_path = LogPath(r.id);
    r.created_at = now;
    r.updated_at = now;
    cs.new_workers.push_back(r);
    w->history_complete = true;
    w->history.push_back(
        core::Transition{"", std::string(core::WorkerStateName(r.status)), r.status_reason, now});
    job->workers.push_back(std::move(w));
  }
  cs.events.push_back(MakeEvent(j.workspace_id, "job.state", j.id,
                                {{"from", "SUBMITTED"}, {"to", "PENDING"}, {"reason", "ACCEPTED"}},
                                now));
  // One commit for the job, its workers and their start (spawned first: a crash before the
  // commit leaves processes that the next start ends as leftovers, and no record behind).
  std::vector<ScopedLock> locks;
  locks.reserve(job->workers.size());
  for (const WorkerPtr& w : job->workers) locks.push_back(co_await ScopedLock::Acquire(w->mu));
  Status st = co_await SpawnNewJob(job, cs);
  locks.clear();
  if (!st) {
    for (const WorkerPtr& w : job->workers) w->job.reset();  // never published: drop
    job->workers.clear();
    co_return st.error();
  }
  core::Job out = job->rec;
  Forget(job);
  co_return out;
}

asio::awaitable<Result<JobView>> Supervisor::GetJob(Caller caller, std::string id) {
  co_return co_await RunBlocking(pool_, [&]() -> Result<JobView> {
    Result<core::Job> j = store_.GetJob(caller.workspace_id, id);
    if (!j) return j.error();
    JobView view;
    view.job = std::move(*j);
    store::WorkerQuery wq;
    wq.job_id = id;
    wq.limit = 1000;
    Result<store::Page<core::Worker>> ws = store_.ListWorkers(caller.workspace_id, wq);
    if (!ws) return ws.error();
    view.workers = std::move(ws->items);
    store::JobQuery jq;
    jq.parent_job_id = id;
    jq.limit = 1000;
    Result<store::Page<core::Job>> kids = store_.ListJobs(caller.workspace_id, jq);
    if (!kids) return kids.error();
    for (const core::Job& k : kids->items) view.children.push_back(k.id);
    return view;
  });
}

asio::awaitable<Result<store::Page<core::Job>>> Supervisor::ListJobs(Caller caller,
                                                                     store::JobQuery query) {
  co_return co_await RunBlocking(pool_,
                                 [&] { return store_.ListJobs(caller.workspace_id, query); });
}

// ---------------------------------------------------------------------------------------
// Workers

Supervisor::WorkerPtr Supervisor::FindLive(const Caller& caller, const std::string& id) const {
  auto it = workers_.find(id);
  if (it == workers_.end() || it->second->rec.workspace_id != caller.workspace_id) return nullptr;
  return it->second;
}

asio::awaitable<Error> Supervisor::NotLiveError(const Caller& caller, std::string id,
                                                WorkerEvent requested) {
  Result<core::Worker> w = co_await RunBlocking(
      pool_, [this, &caller, &id] { return store_.GetWorker(caller.workspace_id, id); });
  if (!w) co_return w.error();
  Result<WorkerState> next = core::NextWorkerState(w->status, requested);
  if (next) {
    co_return MakeError(ErrorCode::kUnavailable, "worker is not supervised by this daemon");
  }
  Error e = next.error();
  e.With("worker_id", id);
  co_return e;
}

asio::awaitable<Result<WorkerView>> Supervisor::GetWorker(Caller caller, std::string id) {
  // Hot path without a database round trip: a live worker from memory, a finished one from
  // the cache of records that can no longer change.
  if (WorkerPtr live = FindLive(caller, id); live && live->history_complete) {
    WorkerView view{live->rec, live->history, {}};
    if (live->process) view.usage = procs_.ReadUsage(*live->process);
    co_return view;
  }
  if (std::shared_ptr<const WorkerView> cached = finished_views_.Find(caller.workspace_id, id)) {
    co_return *cached;
  }
  Result<WorkerView> view = co_await RunBlocking(pool_, [&]() -> Result<WorkerView> {
    Result<core::Worker> w = store_.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::vector<core::Transition>> t = store_.ListTransitions(id);
    if (!t) return t.error();
    return WorkerView{std::move(*w), std::move(*t), {}};
  });
  if (!view) co_return view;
  if (WorkerPtr live = FindLive(caller, id)) {
    if (live->process) view->usage = procs_.ReadUsage(*live->process);
  } else if (core::IsTerminalWorkerState(view->worker.status) ||
             view->worker.status == WorkerState::kFailed) {
    // Not supervised (a FAILED worker with a retry left is RETRYING, and live): final.
    finished_views_.Put(*view);
  }
  co_return view;
}

asio::awaitable<Result<store::Page<core::Worker>>> Supervisor::ListWorkers(
    Caller caller, store::WorkerQuery query) {
  co_return co_await RunBlocking(pool_,
                                 [&] { return store_.ListWorkers(caller.workspace_id, query); });
}

asio::awaitable<Result<core::Worker>> Supervisor::Pause(Caller caller, std::string id) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kPause);
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kPause);
  if (!next || !w->process) {
    Error e = next ? core::NextWorkerState(WorkerState::kIdle, WorkerEvent::kPause).error()
                   : next.error();
    e.With("worker_id", id);
    co_return e;
  }
  Status sig = procs_.Pause(*w->process);
  if (!sig) co_return sig.error();
  Status s = co_await Transition(w, WorkerEvent::kPause, "PAUSE_REQUESTED", nullptr);
  if (!s) co_return s.error();
  co_return w->rec;
}

asio::awaitable<Result<core::Worker>> Supervisor::Resume(Caller caller, std::string id) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kResume);
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kResume);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", id);
    co_return e;
  }
  if (w->process) {
    Status sig = procs_.Resume(*w->process);
    if (!sig) co_return sig.error();
  }
  Status s = co_await Transition(w, WorkerEvent::kResume, "RESUME_REQUESTED", nullptr);
  if (!s) co_return s.error();
  co_return w->rec;
}

asio::awaitable<Status> Supervisor::TerminateLocked(WorkerPtr w, std::chrono::milliseconds grace,
                                                    std::string reason) {
  auto lock = co_await ScopedLock::Acquire(w->mu);
  Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kTerminate);
  if (!next) {
    Error e = next.error();
    e.With("worker_id", w->rec.id);
    co_return e;
  }
  if (w->retry_timer) w->retry_timer->cancel();
  if (w->timeout_timer) w->timeout_timer->cancel();
  co_await KillTree(w, grace);
  w->process.reset();
  const TimeMs now = clock_.NowMs();
  const std::optional<proc::ExitStatus> exit = w->exit;
  Status s = co_await Transition(w, WorkerEvent::kTerminate, reason, [&](core::Worker& r) {
    if (r.started_at != 0) r.ended_at = now;
    if (exit) {
      if (exit->term_signal == 0) {
        r.exit_code = exit->exit_code;
      } else {
        r.exit_signal = exit->term_signal;
      }
    }
  });
  w->terminating = false;
  lock.Release();
  if (w->job) Forget(w->job);
  co_return s;
}

asio::awaitable<Result<core::Worker>> Supervisor::Terminate(Caller caller, std::string id,
                                                            std::chrono::milliseconds grace,
                                                            bool wait) {
  WorkerPtr w = FindLive(caller, id);
  if (!w) co_return co_await NotLiveError(caller, id, WorkerEvent::kTerminate);
  if (!wait) {
    Result<WorkerState> next = core::NextWorkerState(w->rec.status, WorkerEvent::kTerminate);
    if (!next || w->terminating) {
      Error e = next ? MakeError(ErrorCode::kInvalidStateTransition, "already terminating")
                     : next.error();
      e.With("worker_id", id);
      co_return e;
    }
    core::Worker now = w->rec;
    asio::co_spawn(io_, TerminateLocked(w, grace, "TERMINATE_REQUESTED"),
                   [](std::exception_ptr e, Status) { LogFailure(e, "terminate"); });
    co_return now;
  }
  Status s = co_await TerminateLocked(w, grace, "TERMINATE_REQUESTED");
  if (!s) co_return s.error();
  co_return w->rec;
}

asio::awaitable<Result<std::string>> Supervisor::Logs(Caller caller, std::string id, int tail) {
  co_return co_await RunBlocking(pool_, [&]() -> Result<std::string> {
    Result<core::Worker> w = store_.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::string> text = proc::ProcessManager::TailLog(
        w->log_path.empty() ? LogPath(id) : w->log_path, tail, 4 << 20);
    if (!text && text.error().code == ErrorCode::kNotFound) return std::string();  // no output yet
    return text;
  });
}

asio::awaitable<Result<Metrics>> Supervisor::GetMetrics(Caller caller) {
  Result<std::vector<std::pair<WorkerState, int64_t>>> counts =
      co_await RunBlocking(pool_, [&] { return store_.CountWorkersByStatus(caller.workspace_id); });
  if (!counts) co_return counts.error();
  Metrics m = counters_;
  m.workers_by_status = std::move(*counts);
  m.uptime_seconds = (clock_.NowMs() - started_at_) / 1000;
  std::vector<std::pair<int, int64_t>> by_depth;
  for (const auto& [id, w] : workers_) {
    if (w->rec.workspace_id != caller.workspace_id || !w->job) continue;
    if (w->rec.status != WorkerState::kRunning && w->rec.status != WorkerState::kPaused) continue;
    const int d = w->job->rec.depth;
    auto it = std::find_if(by_depth.begin(), by_depth.end(), [d](auto& p) { return p.first == d; });
    if (it == by_depth.end()) {
      by_depth.emplace_back(d, 1);
    } else {
      ++it->second;
    }
  }
  std::sort(by_depth.begin(), by_depth.end());
  m.live_workers_by_depth = std::move(by_depth);
  co_return m;
}

asio::awaitable<Status> Supervisor::Ping() {
  co_return co_await RunBlocking(pool_, [this] { return store_.Ping(); });
}

// ---------------------------------------------------------------------------------------
// Start and stop

asio::awaitable<Status> Supervisor::Recover() {
  co_await AwaitCallback([this](std::function<void()> done) {
    procs_.KillLeftovers([done = std::move(done)](int killed) {
      if (killed > 0) spdlog::warn("recovery: ended {} leftover processes", killed);
      done();
    });
  });
  Result<std::vector<core::Job>> jobs = co_await RunBlocking(pool_, [this] {
    return store_.ListJobsInStates({JobState::kSubmitted, JobState::kPending, JobState::kRunning});
  });
  if (!jobs) co_return jobs.error();
  Result<std::vector<core::Worker>> workers = co_await RunBlocking(pool_, [this] {
    return store_.ListWorkersInStates(
        {WorkerState::kIdle, WorkerState::kRunning, WorkerState::kPaused, WorkerState::kRetrying});
  });
  if (!workers) co_return workers.error();

  for (core::Job& j : *jobs) {
    auto job = std::make_shared<LiveJob>();
    job->rec = std::move(j);
    jobs_[job->rec.id] = job;
  }
  // Load every worker of each active job, so the job can follow all of them.
  for (auto& [id, job] : jobs_) {
    store::WorkerQuery q;
    q.job_id = id;
    q.limit = 1000;
    const std::string ws = job->rec.workspace_id;
    Result<store::Page<core::Worker>> page =
        co_await RunBlocking(pool_, [&] { return store_.ListWorkers(ws, q); });
    if (!page) co_return page.error();
    for (core::Worker& r : page->items) {
      auto w = std::make_shared<LiveWorker>();
      w->rec = std::move(r);
      w->job = job;
      job->workers.push_back(w);
      workers_[w->rec.id] = w;
    }
  }
  // Active workers whose job is already terminal (or missing).
  for (core::Worker& r : *workers) {
    if (workers_.count(r.id) != 0) continue;
    auto w = std::make_shared<LiveWorker>();
    Result<core::Job> j =
        co_await RunBlocking(pool_, [this, &r] { return store_.GetJob(r.workspace_id, r.job_id); });
    if (j) {
      auto job = std::make_shared<LiveJob>();
      job->rec = std::move(*j);
      job->workers.push_back(w);
      w->job = job;
    }
    w->rec = std::move(r);
    workers_[w->rec.id] = w;
  }

  int failed = 0;
  std::vector<WorkerPtr> all;
  for (auto& [id, w] : workers_) all.push_back(w);
  for (const WorkerPtr& w : all) {
    auto lock = co_await ScopedLock::Acquire(w->mu);
    Status s;
    switch (w->rec.status) {
      case WorkerState::kRunning:
      case WorkerState::kPaused:
        ++failed;
        s = co_await Fail(w, "SUPERVISOR_RESTART", std::nullopt);
        break;
      case WorkerState::kRetrying:
      case WorkerState::kIdle:
        if (w->job && !core::IsTerminalJobState(w->job->rec.status)) {
          s = co_await Spawn(w);
        } else {
          s = co_await Transition(w, WorkerEvent::kTerminate, "JOB_ENDED", nullptr);
        }
        break;
      default:
        break;
    }
    if (!s) spdlog::error("recovery: worker {}: {}", w->rec.id, s.error().message);
  }
  // Jobs whose workers all ended while the daemon was down.
  std::vector<std::shared_ptr<LiveJob>> job_list;
  for (auto& [id, job] : jobs_) job_list.push_back(job);
  for (const auto& job : job_list) {
    std::vector<WorkerState> states;
    for (const WorkerPtr& w : job->workers) states.push_back(w->rec.status);
    std::optional<JobState> js = core::JobStatusFromWorkers(job->rec.status, states);
    if (!js && job->rec.status == JobState::kSubmitted) js = JobState::kPending;
    if (js && core::IsLegalJobTransition(job->rec.status, *js)) {
      auto lock = co_await ScopedLock::Acquire(job->mu);
      core::Job updated = job->rec;
      updated.status = *js;
      updated.status_reason = "RECOVERED";
      updated.updated_at = clock_.NowMs();
      if (core::IsTerminalJobState(*js)) updated.completed_at = updated.updated_at;
      store::ChangeSet cs;
      cs.job_updates.push_back(store::JobUpdate{updated, job->rec.status});
      Status s = co_await RunBlocking(pool_, [this, &cs] { return store_.Apply(cs); });
      if (s) job->rec = std::move(updated);
    }
    Forget(job);
  }
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!it->second->job) {
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  if (failed > 0) spdlog::warn("recovery: {} workers were running when the daemon stopped", failed);
  co_return OkStatus();
}

asio::awaitable<void> Supervisor::Shutdown(std::chrono::milliseconds grace) {
  shutting_down_ = true;
  std::vector<WorkerPtr> all;
  for (auto& [id, w] : workers_) all.push_back(w);
  auto remaining = std::make_shared<size_t>(0);
  auto ex = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
  for (const WorkerPtr& w : all) {
    const WorkerState s = w->rec.status;
    if (s == WorkerState::kCompleted || s == WorkerState::kFailed ||
        s == WorkerState::kTerminated) {
      continue;
    }
    ++*remaining;
    asio::co_spawn(io_, TerminateLocked(w, grace, "SUPERVISOR_SHUTDOWN"),
                   [remaining, timer](std::exception_ptr e, Status) {
                     LogFailure(e, "shutdown terminate");
                     if (--*remaining == 0) timer->cancel();
                   });
  }
  if (*remaining > 0) (void)co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace overseer::service
