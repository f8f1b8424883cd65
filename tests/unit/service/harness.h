// The service harness: the services driven directly on one io_context with a FakeLauncher
// (no processes), a FakeClock for the rows and SQLite in memory, so that scheduling, cascades,
// retries, races and recovery are tested in milliseconds and in any order of events.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/time.h"
#include "proc/fake_launcher.h"
#include "service/blocking_pool.h"
#include "service/supervisor.h"
#include "store/sqlite/sqlite_store.h"

namespace overseer::service::testing {

namespace asio = boost::asio;

inline SupervisorOptions HarnessOptions() {
  SupervisorOptions o;
  o.state_dir = "/nonexistent-harness";
  o.daemon_url = "http://127.0.0.1:1";
  o.max_depth = 3;
  o.timeout_grace = std::chrono::milliseconds(10);
  o.default_quotas = {10, 10, 10, 10};
  return o;
}

// A command job of `workers` workers (the fake runs nothing).
inline JobSpec CommandJob(int workers = 1, std::string parent = "") {
  JobSpec s;
  s.name = "harness";
  s.parent_job_id = std::move(parent);
  s.worker_count = workers;
  s.task.runtime = "command";
  s.task.argv = {"agent"};
  s.task.canonical_json = R"({"runtime":"command","command":["agent"]})";
  s.metadata_json = "{}";
  return s;
}

class ServiceHarness {
 public:
  // `wrap` (optional) puts a store of the test's around the database (ForwardingStore);
  // `pool_threads`: the blocking pool's (1: the database calls run one after the other, in
  // order; 2: a test's store can hold one call while others go on).
  using StoreWrapper = std::function<std::unique_ptr<store::Store>(std::unique_ptr<store::Store>)>;
  explicit ServiceHarness(SupervisorOptions options = HarnessOptions(),
                          const StoreWrapper& wrap = nullptr, size_t pool_threads = 1)
      : pool_(pool_threads), options_(options) {
    auto opened = store::OpenSqliteStore(":memory:");
    EXPECT_TRUE(opened.ok()) << opened.error().message;
    store_ = std::move(*opened);
    if (wrap) store_ = wrap(std::move(store_));
    EXPECT_TRUE(store_->MigrateUp().ok());
    Start();
  }
  ~ServiceHarness() {
    if (sup_) Run(sup_->Shutdown(std::chrono::milliseconds(10)));
    sup_.reset();
  }

  // A new supervisor (and a launcher whose processes are all gone) on the same database, as
  // after kill -9 of the daemon; Recover has run.
  void Restart() {
    sup_.reset();
    launcher_ = std::make_unique<proc::FakeLauncher>(io_);
    Start();
  }

  // Runs `aw` on the loop to its end (and whatever runs meanwhile); its result.
  template <typename T>
  T Run(asio::awaitable<T> aw) {
    std::optional<T> out;
    asio::co_spawn(io_, std::move(aw), [&](std::exception_ptr e, T r) {
      if (e) std::rethrow_exception(e);
      out = std::move(r);
    });
    Loop([&] { return out.has_value(); });
    EXPECT_TRUE(out.has_value()) << "did not finish";
    return out ? std::move(*out) : T();
  }
  void Run(asio::awaitable<void> aw) {
    bool done = false;
    asio::co_spawn(io_, std::move(aw), [&](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
      done = true;
    });
    Loop([&] { return done; });
  }
  // Starts `aw` without waiting (a request in flight); its result lands in `*out`.
  template <typename T>
  void Start(asio::awaitable<T> aw, std::shared_ptr<std::optional<T>> out) {
    asio::co_spawn(io_, std::move(aw), [out](std::exception_ptr e, T r) {
      if (e) std::rethrow_exception(e);
      *out = std::move(r);
    });
  }
  // Runs the loop until `done()` (false after `limit` of real time).
  bool Loop(const std::function<bool()>& done,
            std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    io_.restart();
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      io_.run_one_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  // Runs until nothing has happened for `quiet` (store work included).
  void Settle(std::chrono::milliseconds quiet = std::chrono::milliseconds(30)) {
    io_.restart();
    auto last = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - last < quiet) {
      if (io_.run_one_for(std::chrono::milliseconds(5)) > 0)
        last = std::chrono::steady_clock::now();
    }
  }

  Result<core::Job> Submit(JobSpec spec, Caller caller = {"ws", ""}) {
    return Run(sup_->jobs().CreateJob(std::move(caller), std::move(spec)));
  }
  core::Job JobRow(const std::string& id) {
    Result<core::Job> j = store_->GetJob("ws", id);
    EXPECT_TRUE(j.ok()) << id;
    return j.ok() ? *j : core::Job{};
  }
  std::vector<core::Worker> WorkersOf(const std::string& job_id) {
    store::WorkerQuery q;
    q.job_id = job_id;
    Result<store::Page<core::Worker>> page = store_->ListWorkers("ws", q);
    EXPECT_TRUE(page.ok());
    return page.ok() ? page->items : std::vector<core::Worker>{};
  }
  core::Worker WorkerRow(const std::string& id) {
    Result<core::Worker> w = store_->GetWorker("ws", id);
    EXPECT_TRUE(w.ok()) << id;
    return w.ok() ? *w : core::Worker{};
  }
  // "FROM>TO:REASON" of every transition of the worker, oldest first.
  std::vector<std::string> History(const std::string& worker_id) {
    Result<std::vector<core::Transition>> t = store_->ListTransitions("ws", worker_id);
    std::vector<std::string> out;
    if (!t.ok()) return out;
    for (const core::Transition& x : *t) {
      out.push_back(x.from_state + ">" + x.to_state + ":" + x.reason);
    }
    return out;
  }
  bool JobIs(const std::string& id, core::JobState s) { return JobRow(id).status == s; }
  // Until the stored row says `s`, then until the loop is quiet (memory follows the commit
  // on the loop, a moment after the row is readable here).
  bool WaitJob(const std::string& id, core::JobState s) {
    const bool ok = Loop([&] { return JobIs(id, s); });
    Settle(std::chrono::milliseconds(10));
    return ok;
  }
  bool WaitWorker(const std::string& id, core::WorkerState s) {
    const bool ok = Loop([&] { return WorkerRow(id).status == s; });
    Settle(std::chrono::milliseconds(10));
    return ok;
  }

  Supervisor& sup() { return *sup_; }
  proc::FakeLauncher& launcher() { return *launcher_; }
  FakeClock& clock() { return clock_; }
  store::Store& store() { return *store_; }
  asio::io_context& io() { return io_; }
  MetricsRegistry& metrics() { return metrics_; }

 private:
  void Start() {
    sup_ = std::make_unique<Supervisor>(io_, pool_, *store_, *launcher_, options_, nullptr, clock_,
                                        &metrics_);
    Status st = Run(sup_->Recover());
    EXPECT_TRUE(st.ok()) << st.error().message;
  }

  asio::io_context io_;
  BlockingPool pool_;
  SupervisorOptions options_;
  FakeClock clock_{1'800'000'000'000};
  MetricsRegistry metrics_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<proc::FakeLauncher> launcher_ = std::make_unique<proc::FakeLauncher>(io_);
  std::unique_ptr<Supervisor> sup_;
};

}  // namespace overseer::service::testing
