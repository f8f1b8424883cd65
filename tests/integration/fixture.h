// Fixtures and helpers shared by the integration suites. Each test runs in a workspace of its
// own, so tests sharing one daemon (SharedDaemonTest) do not see each other's jobs.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <boost/json.hpp>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "integration/api.h"
#include "integration/daemon.h"

namespace overseer::it {

// A workspace id unique to the running test ([A-Za-z0-9_.-], at most 64 chars).
std::string WorkspaceForThisTest();

// {"name":..,"task":{"runtime":"command","command":argv}} merged with `extra` (top level).
boost::json::object CommandJob(const std::vector<std::string>& argv,
                               const boost::json::object& extra = {});
std::vector<std::string> Sh(const std::string& script);  // {"sh","-c",script}

// Ids of the workers of job `job_id` (GET /api/jobs/{id}); empty on error.
std::vector<std::string> WorkerIds(Api& api, const std::string& job_id);

// Polls GET worker/job until its status is `status` (or `deadline`); the last reply.
Reply WaitWorker(Api& api, const std::string& worker_id, const std::string& status,
                 std::chrono::milliseconds deadline = 15s);
Reply WaitJob(Api& api, const std::string& job_id, const std::string& status,
              std::chrono::milliseconds deadline = 15s);
// Polls the worker's log until it holds `needle`; the last log text.
std::string WaitLog(Api& api, const std::string& worker_id, const std::string& needle,
                    std::chrono::milliseconds deadline = 10s);

// The transitions' to_state values, oldest first.
std::vector<std::string> ToStates(const Reply& worker);

// Base: prints the daemon's stderr when a test failed.
class DaemonTestBase : public ::testing::Test {
 protected:
  virtual Daemon* daemon() = 0;
  void TearDown() override {
    if (HasFailure() && daemon() != nullptr) {
      std::cerr << "---- daemon stderr (" << daemon()->root_dir() << ") ----\n"
                << daemon()->StderrTail() << "---- end of daemon stderr ----\n";
    }
  }
  // Starts a client in a workspace of this test's own.
  void OpenApi(Daemon& d) {
    ws_ = WorkspaceForThisTest();
    api_ = std::make_unique<Api>(d.url(), d.Token(ws_));
  }
  Api& api() { return *api_; }
  const std::string& ws() const { return ws_; }

  std::string ws_;
  std::unique_ptr<Api> api_;
};

// One daemon for every test of the suite `Tag` (started lazily, stopped gracefully at the
// end of the suite; a non-zero exit, e.g. a sanitizer report, fails the suite).
template <typename Tag>
class SharedDaemonTest : public DaemonTestBase {
 public:
  static DaemonOptions Options() { return {}; }
  static void TearDownTestSuite() {
    if (!shared_) return;
    if (shared_->running()) {
      const int st = shared_->Stop();
      if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        ADD_FAILURE() << "the daemon did not exit cleanly on SIGTERM (wait status " << st
                      << "); stderr:\n"
                      << shared_->StderrTail();
      }
    }
    shared_.reset();
  }

 protected:
  Daemon* daemon() override { return shared_.get(); }
  void SetUp() override {
    if (!shared_ || !shared_->running()) {
      shared_ = std::make_unique<Daemon>(Tag::Options());
      ASSERT_TRUE(shared_->Start());
    }
    OpenApi(*shared_);
  }
  Daemon& d() { return *shared_; }

  static inline std::unique_ptr<Daemon> shared_;
};

// A daemon of the test's own (for tests that stop, kill or restart it).
class OwnDaemonTest : public DaemonTestBase {
 protected:
  virtual DaemonOptions Options() { return {}; }
  Daemon* daemon() override { return daemon_.get(); }
  void SetUp() override {
    daemon_ = std::make_unique<Daemon>(Options());
    ASSERT_TRUE(daemon_->Start());
    OpenApi(*daemon_);
  }
  void TearDown() override {
    DaemonTestBase::TearDown();
    daemon_.reset();
  }
  Daemon& d() { return *daemon_; }
  // After a restart the daemon listens elsewhere: point the client at it.
  void Reconnect() { api_ = std::make_unique<Api>(daemon_->url(), daemon_->Token(ws_)); }

  std::unique_ptr<Daemon> daemon_;
};

}  // namespace overseer::it
