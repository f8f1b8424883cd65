// PgCluster: a throwaway PostgreSQL server for tests (issue #12). Start() makes a temp
// directory, runs initdb as an unprivileged user (as root: `runuser -u postgres --`, or
// `nobody` when there is no postgres user; the directory is chowned to it), starts the server
// with pg_ctl on 127.0.0.1 and a free port (its unix socket in the temp directory), waits
// until it accepts connections and creates the database `overseer`, owned by the trusted
// superuser `overseer`. Test settings: initdb --no-sync, fsync/full_page_writes/synchronous_
// commit off (synchronous_commit: see Options), trust authentication on loopback only (except roles
// made by CreatePasswordRole, which need their password: scram-sha-256).
//
// Cleanup: the destructor stops the server (pg_ctl stop -m immediate) and removes the
// directory. So that a test process that dies without running destructors (a crash, abort,
// SIGKILL, a ctest timeout) leaves nothing behind, Start() first spawns a watchdog: a /bin/sh
// in its own session (so a terminal's Ctrl-C or a kill of the test's process group does not
// reach it) that ignores INT/TERM/HUP/QUIT and blocks reading a pipe whose only writer is the
// test process (close-on-exec, so no child inherits it). When the test process goes, the pipe
// reads EOF and the watchdog stops the server and removes the directory; after a normal
// destructor it finds nothing left to do. (PR_SET_PDEATHSIG was the other option: it is tied
// to the forking thread, cleared by runuser's change of user, and cannot remove the directory.)
//
// Server binaries: $OVERSEER_PG_BINDIR, else the newest /usr/lib/postgresql/<N>/bin.
// Not thread-safe: one thread drives a cluster (a gtest Environment, on the main thread).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace overseer::test_support {

class PgCluster {
 public:
  struct Options {
    int max_connections = 40;  // a cluster shared by parallel test processes needs more
    // synchronous_commit on: a commit has reached the server's WAL (not the disk: fsync stays
    // off) before it is answered, so it survives Stop() (an immediate shutdown, i.e. a crash
    // of the server). Off by default (faster): the last commits may then be lost by Stop().
    bool commits_survive_stop = false;
  };
  // Starts a new cluster; kUnavailable with the reason and the server log's tail if any step
  // fails (nothing is left behind then).
  static Result<std::unique_ptr<PgCluster>> Start(Options options);
  static Result<std::unique_ptr<PgCluster>> Start() { return Start(Options{}); }
  ~PgCluster();
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // postgresql://overseer@127.0.0.1:<port>/overseer (trust: no password).
  const std::string& url() const { return url_; }
  // A URL for another role/database on this server; `password` "" for none. Values are used
  // as given (no percent-encoding).
  std::string UrlFor(std::string_view user, std::string_view password,
                     std::string_view database) const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // The postmaster's pid while running, else 0.
  pid_t postmaster_pid() const { return postmaster_pid_; }
  pid_t watchdog_pid() const { return watchdog_pid_; }

  // Stops the server at once (pg_ctl stop -m immediate); the data stays for Restart().
  Status Stop();
  // Starts it again on the same port.
  Status Restart();

  // Runs `sql` (one or more statements) as the superuser on the `overseer` database, over the
  // unix socket with plain libpq (independent of the code under test). kInternal with the
  // server's message on failure.
  Status Sql(std::string_view sql);
  // A login role that must give `password` over TCP (scram-sha-256), with all privileges on
  // the database `overseer` and its public schema.
  Status CreatePasswordRole(std::string_view name, std::string_view password);

  // The last `bytes` of the server log.
  std::string LogTail(size_t bytes = 2000) const;

 private:
  PgCluster() = default;
  Status Init(const Options& options);
  Status StartServer(bool retry_ports);
  Status Run(const std::vector<std::string>& argv, bool as_server_user) const;

  std::string bindir_;
  std::string user_;  // runs the server; "" = this process's own user
  std::string dir_;
  std::string url_;
  int port_ = 0;
  pid_t postmaster_pid_ = 0;
  pid_t watchdog_pid_ = 0;
  int watchdog_fd_ = -1;  // write end of the watchdog's pipe
};

}  // namespace overseer::test_support
