// Spawn: checks the spec, creates the unit's cgroup and output pipe, starts the agent through
// overseer-exec (or /bin/sh) with posix_spawn and hands it to a new Unit. Loop thread only.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>
#include <utility>

#include "common/fd_errors.h"
#include "proc/log_file.h"
#include "proc/proc_fs.h"
#include "proc/unit.h"

namespace overseer::proc::internal {
namespace {

bool ValidUnitName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name == "." || name == "..") return false;
  return Sanitize(name) == name;
}

}  // namespace

std::string Sanitize(std::string_view id) {
  std::string out;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.';
    out.push_back(ok ? c : '_');
  }
  if (out.empty() || out == "." || out == "..") out = "default";
  return out;
}

Result<std::shared_ptr<Process>> ManagerCore::Spawn(const SpawnSpec& spec,
                                                    ProcessCallbacks callbacks) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return MakeError(ErrorCode::kInvalidRequest, "empty command");
  }
  if (!ValidUnitName(spec.unit_name)) {
    return MakeError(ErrorCode::kInvalidRequest, "invalid unit name: " + spec.unit_name);
  }
  if (units_.count(spec.unit_name) != 0) {
    return MakeError(ErrorCode::kInvalidRequest, "unit " + spec.unit_name + " is still running");
  }
  // Created on the first output: a new file (inode) per worker is a large part of a spawn's
  // cost on ext4, and a worker that prints nothing needs none.
  auto log = LogFile::OpenLazily(spec.log_path, spec.log_max_bytes);
  if (!log) return std::move(log).error();

  std::string cgroup_dir;
  std::string cgroup_rel;
  bool created_cgroup = false;
  if (cgroups_enabled()) {
    cgroup_dir = cgroup_parent_ + "/" + spec.unit_name;
    cgroup_rel = cgroup_dir.substr(cgroup_root_.size());
    if (mkdir(cgroup_dir.c_str(), 0755) == 0) {
      created_cgroup = true;
    } else if (errno != EEXIST) {
      return MakeError(ErrorCode::kInternal,
                       "cannot create cgroup " + cgroup_dir + ": " + ErrnoText(errno));
    } else if (!ReadCgroupProcs(cgroup_dir).empty()) {
      return MakeError(ErrorCode::kInternal, "cgroup " + cgroup_dir + " still has processes");
    }
  }
  auto drop_cgroup = [&] {
    if (created_cgroup) rmdir(cgroup_dir.c_str());
  };

  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    int err = errno;
    drop_cgroup();
    if (IsOutOfFds(err)) return OutOfFdsError(err, "cannot create the worker's output pipe");
    return MakeError(ErrorCode::kInternal, "cannot create output pipe: " + ErrnoText(err));
  }
  // Only the read end (its own file description) is non-blocking; the agent's stays blocking.
  fcntl(pipe_fds[0], F_SETFL, fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);

  std::string env_marker = std::string(kMarkerKey) + instance_id_ + "/" + spec.unit_name;
  std::vector<std::string> env;
  env.reserve(spec.env.size() + 1);
  // First: while execve lays out a new image the kernel fills the environment entry by entry,
  // so a read in that moment sees a prefix of it, and the marker is in every non-empty prefix.
  env.push_back(env_marker);
  for (const auto& e : spec.env) {
    if (e.compare(0, kMarkerKey.size(), kMarkerKey) != 0) env.push_back(e);
  }

  // The first program joins the cgroup before exec, so the agent cannot fork outside it;
  // a missing command exits 127 with a message in the log. overseer-exec when available,
  // else `sh -c 'exec "$@"'` (execvp semantics too).
  std::vector<std::string> args;
  if (!exec_helper_.empty()) {
    args.push_back(exec_helper_);
    if (!cgroup_dir.empty()) {
      args.emplace_back("--cgroup-procs");
      args.push_back(cgroup_dir + "/cgroup.procs");
    }
    args.emplace_back("--");
  } else if (!cgroup_dir.empty()) {
    args = {"/bin/sh", "-c", "echo $$ > \"$1\" || exit 125; shift; exec \"$@\"", "overseer",
            cgroup_dir + "/cgroup.procs"};
  } else {
    args = {"/bin/sh", "-c", "exec \"$@\"", "overseer"};
  }
  args.insert(args.end(), spec.argv.begin(), spec.argv.end());
  std::vector<char*> argv_c;
  argv_c.reserve(args.size() + 1);
  for (auto& a : args) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  std::vector<char*> envp_c;
  envp_c.reserve(env.size() + 1);
  for (auto& e : env) envp_c.push_back(e.data());
  envp_c.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  if (!spec.cwd.empty()) posix_spawn_file_actions_addchdir_np(&fa, spec.cwd.c_str());
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pipe_fds[1], 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  sigset_t empty_mask;
  sigset_t all_signals;
  sigemptyset(&empty_mask);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attr, &empty_mask);
  posix_spawnattr_setsigdefault(&attr, &all_signals);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(
      &attr,
      static_cast<short>(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  pid_t pid = 0;
  int err = posix_spawn(&pid, args[0].c_str(), &fa, &attr, argv_c.data(), envp_c.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (err != 0) {
    close(pipe_fds[0]);
    drop_cgroup();
    std::string where = spec.cwd.empty() ? "" : " in " + spec.cwd;
    if (IsOutOfFds(err)) return OutOfFdsError(err, "cannot spawn " + spec.argv[0] + where);
    return MakeError(ErrorCode::kInternal,
                     "cannot spawn " + spec.argv[0] + where + ": " + ErrnoText(err));
  }
  int pidfd = PidfdOpen(pid);
  if (pidfd < 0) {
    int perr = errno;
    kill(pid, SIGKILL);  // still our unreaped child: the pid cannot have been reused
    close(pipe_fds[0]);
    // The zombie is reaped by ReapOrphans (pid is not tracked); the cgroup dir stays until
    // KillLeftovers if the shell already joined it.
    if (IsOutOfFds(perr)) return OutOfFdsError(perr, "cannot open a pidfd for the worker");
    return MakeError(ErrorCode::kInternal, "pidfd_open: " + ErrnoText(perr));
  }

  auto proc = std::make_shared<Process>();
  proc->pid_ = pid;
  proc->unit_name_ = spec.unit_name;
  proc->log_path_ = spec.log_path;
  proc->cgroup_path_ = cgroup_dir;
  auto unit = std::make_shared<Unit>(this, io_, proc, std::move(callbacks), pidfd, std::move(*log),
                                     pipe_fds[0], cgroup_rel, env_marker);
  proc->unit_ = unit;
  units_[spec.unit_name] = unit;
  main_pids_[pid] = unit.get();
  TrackedPids::Instance().Add(pid);
  unit->Start();
  spdlog::info("proc: spawned unit {} pid {} ({})", spec.unit_name, pid, spec.argv[0]);
  return proc;
}

}  // namespace overseer::proc::internal
