// Integration-test harness: runs the real `overseer serve` binary on 127.0.0.1:0 with a fresh
// state directory and a fresh database (SQLite in the state directory, or with
// OVERSEER_IT_DB=postgres a database of its own on the test server: it_db.h), mints tokens for
// it in-process, and inspects the processes it supervises through /proc. One Daemon per
// fixture (or per suite); not thread-safe.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace overseer::it {

using namespace std::chrono_literals;

// Polls `pred` every 20 ms until it holds or `deadline` has passed; true if it held.
bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 10s);

// Every scope of SPEC §5 a workspace token has: all but the operator's supervisor:admin.
std::vector<std::string> AllScopes();

struct TokenSpec {
  std::string sub = "tester";
  std::string workspace = "default";
  std::vector<std::string> scopes = AllScopes();
  std::chrono::seconds ttl = 1h;
  std::string job_id;           // "": not bound to a job
  std::chrono::seconds nbf{0};  // not-before, relative to now (0: omitted)
};

struct DaemonOptions {
  std::vector<std::string> extra_args;  // e.g. {"--max-depth", "1"}
  // NAME=value entries set in the daemon's environment (replacing an inherited NAME).
  std::vector<std::string> extra_env = {};
  // A database URL for `--db`, used as given (neither created nor dropped by the harness).
  // "": the harness's choice (see the top of the file).
  std::string db_url = {};
};

class Daemon {
 public:
  explicit Daemon(DaemonOptions options = {});
  // Kills the daemon and every process it (or an earlier run on this state) started, and
  // drops the database the harness created for it (kept with OVERSEER_IT_KEEP, as the files).
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Starts the binary (OVERSEER_BINARY, or $OVERSEER_IT_BINARY if set) and waits (30 s) for
  // "overseer listening on http://...".
  ::testing::AssertionResult Start();
  // SIGTERM, then waits (30 s, then SIGKILL). Returns the wait status (see WIFEXITED).
  int Stop();
  // SIGKILL the daemon alone (its workers live on) and reap it.
  void Kill9();
  // Starts again on the same state directory and database (the daemon must be stopped).
  ::testing::AssertionResult Restart() { return Start(); }

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  const std::string& url() const { return url_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& root_dir() const { return root_; }
  // The daemon's database: the SQLite file's path, or a postgresql:// URL.
  const std::string& db() const { return db_; }
  bool on_postgres() const { return db_.rfind("postgres", 0) == 0; }
  // Everything the daemon wrote to stderr (over all its runs).
  std::string Stderr() const;
  // The last `lines` lines of Stderr(), preceded by the head of a sanitizer report if any
  // (its first lines say what went wrong; the tail alone would show only stack frames).
  std::string StderrTail(size_t lines = 60) const;

  // Tokens signed with the daemon's secret.
  std::string Token(const TokenSpec& spec = {}) const;
  std::string Token(const std::string& workspace) const;
  std::string ExpiredToken(const std::string& workspace = "default") const;
  std::string NotYetValidToken(const std::string& workspace = "default") const;
  std::string WronglySignedToken(const std::string& workspace = "default") const;
  std::string AlgNoneToken(const std::string& workspace = "default") const;

  // Pids of every live (non-zombie) process whose environment has OVERSEER_WORKER_ID=<id>:
  // the worker's main process and all its descendants, even those that left the group.
  static std::vector<pid_t> WorkerTree(const std::string& worker_id);
  // Children of the daemon in state Z.
  std::vector<pid_t> ZombieChildren() const;
  // Kills every process started under this harness (marked through the environment).
  void KillAllMarked() const;
  // Live (non-zombie) processes started under this harness, the daemon itself excepted.
  std::vector<pid_t> MarkedAlive() const;

 private:
  DaemonOptions options_;
  std::string root_;
  std::string state_dir_;
  std::string db_;
  bool owns_pg_db_ = false;  // created by the harness: dropped by the destructor
  std::string db_error_;     // why the database could not be created (Start() reports it)
  std::string secret_;
  std::string secret_file_;
  std::string stderr_path_;
  std::string mark_;  // IT_DAEMON_MARK=<random>, inherited by every worker
  std::string url_;
  pid_t pid_ = -1;
};

// /proc helpers. State letter of /proc/<pid>/stat ('\0' if gone); parent pid (-1 if gone);
// argv joined with spaces ("" if gone).
char ProcState(pid_t pid);
pid_t ProcParent(pid_t pid);
std::string ProcCmdline(pid_t pid);
bool ProcAlive(pid_t pid);  // exists and is not a zombie

}  // namespace overseer::it
