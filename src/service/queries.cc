#include "service/queries.h"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/system/error_code.hpp>

#include "proc/log_file.h"
#include "service/budgets.h"
#include "service/coroutines.h"
#include "service/runtimes/stream_json.h"
#include "service/worker_agent.h"

namespace overseer::service {
namespace asio = boost::asio;
using core::WorkerState;

namespace {

// Live usage off the request path: the process layer's sampler answers from memory, or after
// its next pass when the last sample is older than its bound; this path never reads /proc or
// cgroup files. Zeros when there is no process.
asio::awaitable<proc::Usage> LiveUsage(proc::Launcher& procs,
                                       std::shared_ptr<proc::Process> process) {
  if (!process) co_return proc::Usage{};
  if (std::optional<proc::Usage> cached = procs.CachedUsage(*process)) co_return *cached;
  proc::Usage usage;
  co_await internal::AwaitCallback([&](std::function<void()> done) {
    procs.AwaitUsage(*process, [&usage, done = std::move(done)](proc::Usage u) {
      usage = u;
      done();
    });
  });
  co_return usage;
}

}  // namespace

asio::awaitable<Result<JobView>> Queries::GetJob(Caller caller, std::string id) {
  Result<JobView> answer = co_await RunBlocking(ctx_.pool, [&]() -> Result<JobView> {
    Result<core::Job> j = ctx_.store.GetJob(caller.workspace_id, id);
    if (!j) return j.error();
    JobView view;
    view.job = std::move(*j);
    store::WorkerQuery wq;
    wq.job_id = id;
    wq.limit = 1000;
    Result<store::Page<core::Worker>> ws = ctx_.store.ListWorkers(caller.workspace_id, wq);
    if (!ws) return ws.error();
    view.workers = std::move(ws->items);
    store::JobQuery jq;
    jq.parent_job_id = id;
    jq.limit = 1000;
    Result<store::Page<core::Job>> kids = ctx_.store.ListJobs(caller.workspace_id, jq);
    if (!kids) return kids.error();
    for (const core::Job& k : kids->items) view.children.push_back(k.id);
    Result<std::vector<core::Allocation>> allocs =
        ctx_.store.ListJobAllocations(caller.workspace_id, id);
    if (!allocs) return allocs.error();
    view.allocations = std::move(*allocs);
    return view;
  });
  if (!answer) co_return answer;
  // Usage is written a moment after it changes: a live job answers its figures as of now,
  // and what is left of the budget it shares.
  if (JobPtr live = ctx_.FindJob(caller.workspace_id, id)) {
    answer->job.usage = live->rec.usage;
    answer->job.budget = live->rec.budget;
    answer->budget_left = BudgetLeftFor(*live);
    // Its agents' figures as their streams told them so far (a row holds them as of the
    // worker's last transition), as GET worker answers them.
    for (core::Worker& row : answer->workers) {
      if (WorkerPtr w = ctx_.FindWorker(caller.workspace_id, row.id)) SyncAgentRow(*w, row);
    }
  } else {
    answer->budget_left = BudgetLeftOf(answer->job);
  }
  co_return answer;
}

asio::awaitable<Result<store::Page<core::Job>>> Queries::ListJobs(Caller caller,
                                                                  store::JobQuery query) {
  co_return co_await RunBlocking(ctx_.pool,
                                 [&] { return ctx_.store.ListJobs(caller.workspace_id, query); });
}

asio::awaitable<Result<JobTreeView>> Queries::GetJobTree(Caller caller, std::string id) {
  Result<std::vector<core::Job>> rows = co_await RunBlocking(ctx_.pool, [&] {
    return ctx_.store.ListJobSubtree(caller.workspace_id, id, kMaxTreeJobs + 1);
  });
  if (!rows) co_return rows.error();
  JobTreeView view;
  view.jobs = std::move(*rows);
  if (view.jobs.size() > static_cast<size_t>(kMaxTreeJobs)) {
    view.jobs.resize(kMaxTreeJobs);
    view.truncated = true;
  }
  co_return view;
}

asio::awaitable<Result<WorkerView>> Queries::GetWorker(Caller caller, std::string id) {
  // Hot path without a database round trip: a live worker from memory. (A finished one is
  // read once, marked final, and then answered by the api layer's cache of rendered views.)
  if (WorkerPtr live = ctx_.FindWorker(caller.workspace_id, id); live && live->history_complete) {
    proc::Usage usage = co_await LiveUsage(ctx_.procs, live->process);
    WorkerView view{live->rec, live->history, usage};
    SyncAgentRow(*live, view.worker);  // what the stream has told so far
    co_return view;
  }
  Result<WorkerView> view = co_await RunBlocking(ctx_.pool, [&]() -> Result<WorkerView> {
    Result<core::Worker> w = ctx_.store.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::vector<core::Transition>> t = ctx_.store.ListTransitions(caller.workspace_id, id);
    if (!t) return t.error();
    return WorkerView{std::move(*w), std::move(*t), {}};
  });
  if (!view) co_return view;
  if (WorkerPtr live = ctx_.FindWorker(caller.workspace_id, id)) {
    view->usage = co_await LiveUsage(ctx_.procs, live->process);
  } else if (core::IsTerminalWorkerState(view->worker.status) ||
             view->worker.status == WorkerState::kFailed) {
    // Not supervised (a FAILED worker with a retry left is RETRYING, and live): final.
    view->final = true;
  }
  co_return view;
}

asio::awaitable<Result<store::Page<core::Worker>>> Queries::ListWorkers(Caller caller,
                                                                        store::WorkerQuery query) {
  co_return co_await RunBlocking(
      ctx_.pool, [&] { return ctx_.store.ListWorkers(caller.workspace_id, query); });
}

asio::awaitable<Result<std::string>> Queries::Logs(Caller caller, std::string id, int tail) {
  co_return co_await RunBlocking(ctx_.pool, [&]() -> Result<std::string> {
    Result<core::Worker> w = ctx_.store.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<std::string> text =
        proc::TailLogFiles(w->log_path.empty() ? ctx_.LogPath(id) : w->log_path, tail, 4 << 20);
    if (!text && text.error().code == ErrorCode::kNotFound) return std::string();  // no output yet
    return text;
  });
}

asio::awaitable<Result<std::vector<TranscriptEntry>>> Queries::Transcript(Caller caller,
                                                                          std::string id,
                                                                          int tail) {
  // The worker and its job's runtime (from the stored task: a finished job has no live one).
  struct Source {
    std::string log_path;
    std::string runtime;
  };
  Result<Source> source = co_await RunBlocking(ctx_.pool, [&]() -> Result<Source> {
    Result<core::Worker> w = ctx_.store.GetWorker(caller.workspace_id, id);
    if (!w) return w.error();
    Result<core::Job> j = ctx_.store.GetJob(caller.workspace_id, w->job_id);
    if (!j) return j.error();
    Source s{w->log_path.empty() ? ctx_.LogPath(id) : w->log_path, ""};
    boost::system::error_code ec;
    boost::json::value task = boost::json::parse(j->task_json, ec);
    if (!ec && task.is_object()) s.runtime = stream_json::String(task.get_object(), "runtime");
    return s;
  });
  if (!source) co_return source.error();
  // Reading and parsing the log is a second pool task, apart from the store's reads.
  co_return co_await RunBlocking(ctx_.pool, [&]() -> Result<std::vector<TranscriptEntry>> {
    TranscriptBuilder builder(TranscriptFormatFor(source->runtime),
                              static_cast<size_t>(std::max(tail, 1)));
    Status read = proc::ForEachLogLine(
        source->log_path, kTranscriptReadMaxBytes, stream_json::kLineMaxBytes,
        [&builder](std::string_view line, bool cut) { builder.Feed(line, cut); });
    if (!read && read.error().code != ErrorCode::kNotFound) return read.error();  // no output yet
    return builder.TakeEntries();
  });
}

asio::awaitable<Result<Metrics>> Queries::GetMetrics(Caller caller, bool daemon_wide) {
  Result<std::vector<std::pair<WorkerState, int64_t>>> counts = co_await RunBlocking(
      ctx_.pool, [&] { return ctx_.store.CountWorkersByStatus(caller.workspace_id); });
  if (!counts) co_return counts.error();
  Metrics m;
  m.counters = ctx_.throughput.Workspace(caller.workspace_id);
  if (daemon_wide) {
    m.daemon_wide = true;
    m.daemon_counters = ctx_.throughput.Daemon();
    m.commits = ctx_.commits.committed();
    m.commit_transactions = ctx_.commits.batches();
  }
  m.workers_by_status = std::move(*counts);
  m.uptime_seconds = (ctx_.clock.NowMs() - ctx_.started_at) / 1000;
  std::vector<std::pair<int, int64_t>> by_depth;
  for (const auto& [id, w] : ctx_.workers) {
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

asio::awaitable<Status> Queries::Ping() {
  co_return co_await RunBlocking(ctx_.pool, [this] { return ctx_.store.Ping(); });
}
}  // namespace overseer::service
