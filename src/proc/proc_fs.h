// Small, synchronous readers of /proc and cgroup v2 files, and pidfd wrappers, used by
// ProcessManager. Every function is a short read of a pseudo-file (never blocks for long) and
// never throws. Any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace overseer::proc::internal {

// The fields of /proc/<pid>/stat that overseer uses.
struct ProcStat {
  pid_t pid = 0;
  char state = '?';  // R, S, D, T, t, Z, X, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  uint32_t flags = 0;  // PF_* (kPfKthread, ...)
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t cutime_ticks = 0;
  uint64_t cstime_ticks = 0;
  int64_t rss_pages = 0;
  uint64_t start_ticks = 0;  // start time after boot: with the pid, names one process
  // Bounds of the environment in the process's memory; both 0 while it has no memory image
  // (kernel thread, exiting, or in the middle of execve before the new image is set up), and
  // when we may not read them.
  uint64_t env_start = 0;
  uint64_t env_end = 0;
};

constexpr uint32_t kPfKthread = 0x00200000;  // PF_KTHREAD: a kernel thread

// Reads /proc/<pid>/stat; nullopt if the process is gone or the file is malformed.
std::optional<ProcStat> ReadProcStat(pid_t pid);

// Whole contents of a small file; nullopt if it cannot be opened or read.
std::optional<std::string> ReadSmallFile(const std::string& path);

// Writes `data` to an existing file (e.g. "1" to cgroup.kill); false on any failure (errno set).
bool WriteSmallFile(const std::string& path, std::string_view data);

// Every numeric entry of /proc (all processes visible to us), excluding ourselves.
std::vector<pid_t> ListAllPids();

// True if /proc/<pid>/environ has an entry equal to `entry` (or starting with it when
// `prefix`). False when unreadable (a zombie has an empty environ).
bool EnvironHas(pid_t pid, std::string_view entry, bool prefix);

enum class EnvMatch { kYes, kNo, kUnknown };

// Like EnvironHas, but tells "no" from "cannot tell now". /proc/<pid>/environ reads empty while
// a live process is in the middle of execve (its new image has no environment yet) or exiting;
// then the answer is kUnknown, and the caller asks again a little later. kNo when the process
// is gone, a zombie, a kernel thread, not ours to read (EACCES), really has an empty
// environment, or lacks the entry.
EnvMatch EnvironMatch(pid_t pid, std::string_view entry, bool prefix);

// The cgroup v2 path of a process ("0::<path>" line of /proc/<pid>/cgroup), e.g.
// "/overseer-x/w_1"; nullopt if unreadable.
std::optional<std::string> ReadCgroupV2Path(pid_t pid);

// Pids listed in <dir>/cgroup.procs (empty when the group is empty or unreadable).
std::vector<pid_t> ReadCgroupProcs(const std::string& dir);

// The cgroup v2 mount usable by us: "/sys/fs/cgroup" if it is cgroup2, else
// "/sys/fs/cgroup/unified" if that is cgroup2; only if writable. nullopt otherwise.
std::optional<std::string> DetectCgroupV2Root();

// Children of this process (all threads), from /proc/self/task/*/children.
std::vector<pid_t> ListOwnChildren();

// pidfd_open(pid, 0); -1 with errno on failure.
int PidfdOpen(pid_t pid);
// pidfd_send_signal(fd, sig, nullptr, 0); 0 or -1 with errno.
int PidfdSendSignal(int pidfd, int sig);

// strerror without the shared buffer (strerror_r).
std::string ErrnoMessage(int err);

// Clock ticks per second and page size, cached.
int64_t ClockTicksPerSecond();
int64_t PageSize();

}  // namespace overseer::proc::internal
