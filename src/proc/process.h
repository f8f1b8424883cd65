// The values of the process layer: what to spawn, how a process ended, what it is doing, what
// it uses, the callbacks it reports through, and the handle of a spawned unit. Loop thread
// only (the handle); the values are plain.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/time.h"

namespace overseer::proc {

namespace internal {
class Unit;
class ManagerCore;
}  // namespace internal

struct SpawnSpec {
  // argv[0] is looked up in the PATH of `env` (the shell's default path if none), like execvp.
  std::vector<std::string> argv;
  std::string cwd;                   // "" = inherit the daemon's
  std::vector<std::string> env;      // complete environment, "KEY=VALUE"
  std::string log_path;              // stdout and stderr appended here
  int64_t log_max_bytes = 10 << 20;  // past it the file goes to log_path + ".1" (one backup)
  std::string unit_name;             // unique among live units: [A-Za-z0-9_.-]+, e.g. worker id
};

// Exited: exit_code >= 0, term_signal 0. Killed by a signal: exit_code -1, term_signal N.
struct ExitStatus {
  int exit_code = -1;
  int term_signal = 0;
};

// What the kernel says the main process is doing right now (not what a notification said).
enum class MainState {
  kRunning,  // running or sleeping (anything but stopped or gone)
  kStopped,  // stopped by a signal (SIGSTOP, SIGTSTP, ...)
  kExited,   // exited (zombie, or already reaped)
};

// Resource use of every live process of the unit (cgroup: cpu includes exited ones).
struct Usage {
  double cpu_seconds = 0;
  int64_t rss_bytes = 0;
  int processes = 0;
  TimeMs sampled_at = 0;  // wall time of the reading; 0 when nothing was read (no live process)
};

// The longest output line handed to on_output; a longer one is cut there (the log keeps it).
inline constexpr size_t kMaxOutputLine = size_t{1} << 20;

struct ProcessCallbacks {
  std::function<void(ExitStatus)> on_exit;  // main process exited and was reaped; once
  std::function<void()> on_stopped;         // main process stopped by a signal (ours or anyone's)
  std::function<void()> on_continued;       // main process continued
  // Each line of output as it arrives (without its '\n'; stdout and stderr share one pipe),
  // after it was written to the log; the last unterminated line comes at the end of the
  // output. A line over kMaxOutputLine is handed over in pieces of that size. The hook of a
  // runtime that parses an agent's stream; optional.
  std::function<void(std::string_view line)> on_output;
};

// Handle to one spawned unit: its main process and everything it starts. Loop thread only.
// Keeping the handle does not keep any resource alive.
class Process {
 public:
  pid_t pid() const { return pid_; }
  pid_t pgid() const { return pid_; }  // the main process leads its own group
  const std::string& unit_name() const { return unit_name_; }
  const std::string& log_path() const { return log_path_; }
  const std::string& cgroup_path() const { return cgroup_path_; }  // "" without cgroup
  bool exited() const { return exit_status_.has_value(); }         // main process reaped
  std::optional<ExitStatus> exit_status() const { return exit_status_; }
  // True once the main process is reaped and no process of the unit is left.
  bool finished() const { return finished_; }

 private:
  friend class internal::Unit;
  friend class internal::ManagerCore;
  friend class ProcessManager;
  friend class FakeLauncher;

  pid_t pid_ = 0;
  std::string unit_name_;
  std::string log_path_;
  std::string cgroup_path_;
  std::optional<ExitStatus> exit_status_;
  bool finished_ = false;
  std::weak_ptr<internal::Unit> unit_;
};

}  // namespace overseer::proc
