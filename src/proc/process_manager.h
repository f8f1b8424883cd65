// The process layer: spawns agent processes (posix_spawn, own process group, own cgroup v2 when
// the host has one), watches their exits through pidfds, signals them, measures them and
// captures their output into size-capped log files.
//
// Thread rule: ProcessManager and Process are used on the ONE thread that runs the io_context
// (the loop); every callback runs there too. Nothing here blocks the loop beyond short reads
// of /proc and cgroup files. Only TailLog may be called from any thread.
//
// Live usage: CachedUsage / SampledUsage answer from memory. A sampler on the loop reads the
// usage of the units someone asked about (within ProcessManagerOptions::usage_interest) every
// usage_period, all of them in one pass (one scan of /proc for the units without a cgroup);
// when nobody asks, it does not wake up.
//
// Lifetime: destroy the ProcessManager before the io_context. Destroying it does not end the
// processes (that is what Terminate, or KillLeftovers at the next start, is for); their output
// pipes are closed. Never destroy the manager from inside one of its callbacks.
//
// Process-wide effects: the constructor makes this process a child subreaper
// (PR_SET_CHILD_SUBREAPER) and listens for SIGCHLD (asio::signal_set) to report stops and
// continues and to reap adopted orphans: it reaps EVERY child of this process that is not the
// main process of one of its units, so nothing else in the program may spawn children and wait
// for them itself.
#pragma once

#include <sys/types.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/time.h"
#include "proc/launcher.h"
#include "proc/process.h"

namespace overseer::proc {

struct ProcessManagerOptions {
  // Names this daemon's state dir: cgroup parent "overseer-<instance_id>" and the env marker
  // OVERSEER_UNIT=<instance_id>/<unit_name>. Characters outside [A-Za-z0-9_.-] become '_'.
  std::string instance_id;
  // Use cgroup v2 when the host has a writable v2 mount (/sys/fs/cgroup, else
  // /sys/fs/cgroup/unified). false forces process groups + env marker + subreaper.
  bool use_cgroup = true;
  // The overseer-exec program every worker starts through (joins the cgroup, then execs the
  // command). "" or not executable: a `/bin/sh -c` trampoline does the same, slower.
  std::string exec_helper;
  // Live usage (CachedUsage): a unit asked about is sampled every `usage_period` until
  // `usage_interest` has passed since the last ask; an answer is at most 2 * usage_period old.
  std::chrono::milliseconds usage_period{250};
  std::chrono::milliseconds usage_interest{5000};
};

class ProcessManager final : public Launcher {
 public:
  // Sets PR_SET_CHILD_SUBREAPER, starts listening for SIGCHLD and reaps untracked zombies.
  ProcessManager(boost::asio::io_context& io, const ProcessManagerOptions& options);
  ~ProcessManager() override;
  ProcessManager(const ProcessManager&) = delete;
  ProcessManager& operator=(const ProcessManager&) = delete;

  // Starts spec.argv in a new process group (and cgroup), stdin /dev/null, stdout+stderr to
  // spec.log_path, signal mask and dispositions reset, no daemon fd inherited, env marker
  // appended. A missing command exits 127 with the shell's message in the log.
  // Errors: kInvalidRequest (empty argv, bad unit_name, unit_name in use), kInternal (log file,
  // cgroup, pipe or spawn failure; the message says which).
  Result<std::shared_ptr<Process>> Spawn(const SpawnSpec& spec,
                                         ProcessCallbacks callbacks) override;

  // SIGSTOP / SIGCONT to the main process, its group and every process of the unit.
  // Without a cgroup, a process outside the group whose environment (marker) cannot be read at
  // that moment (it is in the middle of execve) is looked at again a few ms later on the loop
  // and, if it is the unit's, gets the signal then.
  // kInvalidStateTransition if the main process has exited; kInternal if a signal fails.
  Status Pause(Process& p) override;
  Status Resume(Process& p) override;

  // SIGTERM then SIGCONT to every process of the unit; after `grace`, SIGKILL (cgroup.kill
  // where available). `done` runs on the loop once the main process is reaped and no process
  // of the unit is left (also right away, posted, if that is already so). Calling it again
  // adds `done` to the waiters. Also the way to end stragglers after on_exit. Without a cgroup,
  // the unit is not finished while a process that may be its own is in the middle of execve
  // (rechecked after 2, 4, ... 64 ms; after 8 looks it counts as not the unit's, logged).
  void Terminate(const std::shared_ptr<Process>& p, std::chrono::milliseconds grace,
                 std::function<void()> done) override;

  // The main process's state as /proc shows it now. Safe against pid reuse: the main process
  // is our child and its pid stays ours until it is reaped (after which this says kExited).
  MainState State(const Process& p) const override;

  // Usage of the unit's live processes, read now from /proc and cgroup files; zeros once
  // finished. Without a cgroup, a process in the middle of execve is counted if the unit already
  // holds it or its parent is a member. Costs a /proc scan without a cgroup: request paths use
  // CachedUsage / SampledUsage instead.
  Usage ReadUsage(const Process& p);

  // Live usage from memory, never reading a file: zeros (sampled_at 0) once the unit is
  // finished; else its last sample if at most 2 * usage_period old (by the steady clock); else
  // nullopt, and SampledUsage gives one. Each call keeps the unit sampled for usage_interest.
  std::optional<Usage> CachedUsage(const Process& p) override;

  // Completes with a sample read after this call by the sampler's next pass, which starts at
  // once (posted: never inline). Zeros if the unit finishes first or the manager goes away
  // (then the handler is destroyed uncalled). Completion signature void(Usage); e.g.
  // `Usage u = co_await procs.SampledUsage(p, asio::use_awaitable);`.
  template <typename CompletionToken>
  auto SampledUsage(const Process& p, CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, void(Usage)>(
        [this, &p](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          AwaitUsage(p, [shared](Usage u) { std::move (*shared)(u); });
        },
        token);
  }

  // SampledUsage with a plain callback, run on the loop (posted).
  void AwaitUsage(const Process& p, std::function<void(Usage)> done) override;

  // True when no unit is being sampled and the sampler's timer is not armed.
  bool UsageSamplerIdleForTest() const;

  bool cgroups_enabled() const;
  // "<v2 root>/overseer-<instance_id>" when cgroups are enabled, else "".
  const std::string& cgroup_parent() const;

  // Call at start, before any Spawn: SIGKILLs every process left by an earlier daemon of this
  // instance (in leftover cgroups under our parent dir, or carrying our env marker), waits
  // (asynchronously, pidfds) until they are gone, removes the leftover cgroup dirs, then runs
  // `done(count_killed)` on the loop. Gives up waiting after 30 s (logged).
  void KillLeftovers(std::function<void(int)> done) override;

  // See TailLogFiles (log_file.h): last `lines` lines of log_path.1 + log_path, at most
  // `max_bytes`. kNotFound if there is no log. Any thread.
  static Result<std::string> TailLog(const std::string& log_path, int lines, int64_t max_bytes);

 private:
  std::shared_ptr<internal::ManagerCore> core_;
};

}  // namespace overseer::proc
