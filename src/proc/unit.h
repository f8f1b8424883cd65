// Internals of the process layer, shared by its .cc files and by nothing else: the Unit (one
// spawned unit: membership, signalling, drain, output capture), the leftover Sweep, the
// ManagerCore behind ProcessManager, and the helpers and constants they have in common.
//
// Where each part is defined: unit.cc (Unit: membership, rechecks, signalling, drain),
// unit_output.cc (Unit: output pipe into the log file), sweep.cc (Sweep and
// ManagerCore::KillLeftovers), spawn.cc (ManagerCore::Spawn, unit names), process_manager.cc
// (the rest of ManagerCore and the ProcessManager façade), usage_sampler.cc (UsageSampler: live
// usage served from memory).
//
// Thread rule: as process_manager.h, the loop thread only; TrackedPids may be used from any.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "proc/log_file.h"
#include "proc/proc_fs.h"
#include "proc/process_manager.h"
#include "proc/usage_sampler.h"

namespace overseer::proc::internal {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

constexpr std::string_view kMarkerKey = "OVERSEER_UNIT=";

// A process whose environment cannot be read right now (in the middle of execve, or exiting) is
// looked at again after 2, 4, 8, ... 64 ms; after kMaxRechecks looks it counts as not ours.
constexpr int kMaxRechecks = 8;
constexpr auto kFirstRecheck = std::chrono::milliseconds(2);
constexpr int kMaxRecheckShift = 5;

// Owns a file descriptor (here: a pidfd).
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { Reset(); }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Characters outside [A-Za-z0-9_.-] become '_'; "", "." and ".." become "default".
std::string Sanitize(std::string_view id);

inline std::string ErrnoText(int err) { return ErrnoMessage(err); }

// A process that is neither a zombie nor dead.
inline bool IsLive(pid_t pid) {
  auto st = ReadProcStat(pid);
  return st && st->state != 'Z' && st->state != 'X';
}

// Main processes of every manager in this process: no manager's orphan reaper may take them.
class TrackedPids {
 public:
  static TrackedPids& Instance() {
    static TrackedPids* instance = new TrackedPids();  // never destroyed: used by destructors
    return *instance;
  }
  void Add(pid_t pid) {
    std::lock_guard lock(mu_);
    pids_.insert(pid);
  }
  void Remove(pid_t pid) {
    std::lock_guard lock(mu_);
    pids_.erase(pid);
  }
  bool Contains(pid_t pid) {
    std::lock_guard lock(mu_);
    return pids_.count(pid) != 0;
  }

 private:
  std::mutex mu_;
  std::set<pid_t> pids_;
};

class ManagerCore;
class UsageSampler;

// Every process of the host (ListAllPids + ReadProcStat), read once and shared by the units
// without a cgroup that one sampler pass measures.
using HostStats = std::vector<ProcStat>;

// One spawned unit: main process, its group, its cgroup, output capture and the drain that
// waits until no process of it is left. Loop thread only.
class Unit : public std::enable_shared_from_this<Unit> {
 public:
  enum class Phase { kRunning, kTerm, kKill };

  // Takes ownership of `pidfd` (main process) and `out_fd` (read end of its output pipe).
  Unit(ManagerCore* core, asio::io_context& io, std::shared_ptr<Process> proc,
       ProcessCallbacks callbacks, int pidfd, std::unique_ptr<LogFile> log, int out_fd,
       std::string cgroup_rel, std::string env_marker)
      : core_(core),
        io_(io),
        proc_(std::move(proc)),
        callbacks_(std::move(callbacks)),
        log_(std::move(log)),
        pidfd_(io, pidfd),
        out_(io, out_fd),
        grace_timer_(io),
        cgroup_rel_(std::move(cgroup_rel)),
        env_marker_(std::move(env_marker)),
        recheck_timer_(io) {}

  void Start() {
    WaitMainExit();
    ReadOutput();
  }

  const std::shared_ptr<Process>& proc() const { return proc_; }
  const ProcessCallbacks& callbacks() const { return callbacks_; }
  bool finished() const { return finished_; }

  enum class Member { kNo, kYes, kUndecided };

  // Every live process of the unit, main included while not reaped. Without a cgroup a process
  // outside the group is judged by its env marker; one whose environment cannot be read right
  // now (execve in progress) is read once more and, if still unreadable, left out and added to
  // `undecided` when given. `host`: a snapshot of the host's processes to judge instead of a
  // fresh scan (no cgroup only).
  std::vector<pid_t> ListMembers(std::vector<pid_t>* undecided = nullptr,
                                 const HostStats* host = nullptr);
  // Whether `pid` is a live process of the unit now (kUndecided: see ListMembers).
  Member Classify(pid_t pid);
  Status SignalAll(int sig);
  void Terminate(std::chrono::milliseconds grace, std::function<void()> done);
  // Reads the usage now (sampled_at: now). `host` as in ListMembers; used only without a
  // cgroup, its figures then come from that snapshot.
  Usage ReadUsage(const HostStats* host = nullptr);
  bool has_cgroup() const { return !proc_->cgroup_path_.empty(); }
  // Manager gone: close everything; pending handlers see core_ == nullptr and stop.
  void Detach();

 private:
  void WaitMainExit();
  void OnMainReady();
  enum class Drained { kAgain, kMore, kClosed };
  void ReadOutput();
  void PumpOutput();
  Drained DrainOutput(int max_reads);
  // Hands the complete lines of `chunk` to on_output (the rest waits in line_buf_); at the end
  // of the output (`eof`), the unterminated rest too.
  void SplitLines(std::string_view chunk, bool eof);
  void Check();
  void Watch(pid_t pid, int fd);
  void EnterKillPhase();
  void Finish();
  bool use_group() const { return !group_released_; }
  // Judged by the env marker, or by an earlier decision: a process once seen as a member stays
  // one while it lives (`known_`), since mid-exec its environment reads empty or partial.
  Member ByMarker(const ProcStat& st);
  // Undecided processes (no cgroup): held by a pidfd (`fd`, or one opened here when -1) and
  // classified again by a one-shot timer; a member is then signalled as the unit's state wants
  // (stopped, terminating, killed) and, once the main process is reaped, watched.
  void Pin(pid_t pid, int fd);
  void ScheduleRecheck();
  void Recheck();
  void Adopt(pid_t pid, OwnedFd fd);

  ManagerCore* core_;
  asio::io_context& io_;
  std::shared_ptr<Process> proc_;
  ProcessCallbacks callbacks_;
  std::unique_ptr<LogFile> log_;
  bool log_error_reported_ = false;
  std::string line_buf_;  // an output line not yet complete (on_output only)
  Descriptor pidfd_;
  Descriptor out_;
  std::array<char, size_t{64} * 1024> buf_{};
  asio::steady_timer grace_timer_;
  std::string cgroup_rel_;  // "/overseer-<id>/<unit>" below the v2 root; "" without cgroup
  std::string env_marker_;  // "OVERSEER_UNIT=<id>/<unit>"
  Phase phase_ = Phase::kRunning;
  bool grace_started_ = false;
  bool finished_ = false;
  // After the main process is reaped and its group is seen empty, the group id may be reused
  // by an unrelated process: stop matching/signalling by group from then on.
  bool group_released_ = false;
  std::map<pid_t, std::shared_ptr<Descriptor>> watched_;  // members waited on (pidfds)
  std::vector<std::function<void()>> done_waiters_;
  struct Pending {
    OwnedFd fd;
    int checks = 0;
  };
  std::map<pid_t, Pending> pending_;  // undecided processes, see Pin
  std::set<pid_t> given_up_;          // undecided after kMaxRechecks: treated as not ours
  std::map<pid_t, uint64_t> known_;   // members seen by marker: pid -> start_ticks
  asio::steady_timer recheck_timer_;
  bool recheck_scheduled_ = false;
  bool stop_wanted_ = false;  // last of Pause/Resume was Pause
};

// KillLeftovers: one sweep over processes of an earlier daemon of this instance.
class Sweep : public std::enable_shared_from_this<Sweep> {
 public:
  Sweep(ManagerCore* core, asio::io_context& io, std::vector<std::string> dirs,
        std::string cgroup_rel_prefix, std::string env_prefix,
        std::vector<std::string> live_markers, std::function<void(int)> done)
      : core_(core),
        io_(io),
        deadline_(io),
        recheck_(io),
        dirs_(std::move(dirs)),
        cgroup_rel_prefix_(std::move(cgroup_rel_prefix)),
        env_prefix_(std::move(env_prefix)),
        live_markers_(std::move(live_markers)),
        done_(std::move(done)) {}

  void Start();
  void Detach();

 private:
  void Round();
  bool IsLeftover(pid_t pid);
  void Finish(bool timed_out);

  ManagerCore* core_;
  asio::io_context& io_;
  asio::steady_timer deadline_;
  asio::steady_timer recheck_;
  std::vector<std::string> dirs_;
  std::string cgroup_rel_prefix_;          // "/overseer-<id>/"; "" when no cgroup root
  std::string env_prefix_;                 // "OVERSEER_UNIT=<id>/"
  std::vector<std::string> live_markers_;  // markers of this manager's live units: spared
  std::function<void(int)> done_;
  std::set<pid_t> killed_;
  std::map<pid_t, std::shared_ptr<Descriptor>> watched_;
  int undecided_rounds_ = 0;  // rounds repeated for a process without readable environment
  bool finished_ = false;
};

class ManagerCore : public std::enable_shared_from_this<ManagerCore> {
 public:
  ManagerCore(asio::io_context& io, const ProcessManagerOptions& options);
  ~ManagerCore();
  void Start();

  Result<std::shared_ptr<Process>> Spawn(const SpawnSpec& spec, ProcessCallbacks callbacks);
  void KillLeftovers(std::function<void(int)> done);

  asio::io_context& io() { return io_; }
  UsageSampler& sampler() { return *sampler_; }
  bool cgroups_enabled() const { return !cgroup_parent_.empty(); }
  const std::string& cgroup_parent() const { return cgroup_parent_; }
  const std::string& cgroup_root() const { return cgroup_root_; }

  void OnMainReaped(pid_t pid) {
    main_pids_.erase(pid);
    TrackedPids::Instance().Remove(pid);
  }
  void OnUnitFinished(Unit* unit);
  void OnSweepFinished(Sweep* sweep);
  // Reaps every zombie child that is not a tracked main process.
  void ReapOrphans();

 private:
  void WaitSigchld();
  void OnSigchld();

  asio::io_context& io_;
  std::string instance_id_;
  std::string exec_helper_;    // overseer-exec, "" for the /bin/sh trampoline
  std::string cgroup_root_;    // v2 mount, "" if none
  std::string cgroup_parent_;  // "" when cgroups are not used
  asio::signal_set sigchld_;
  std::map<std::string, std::shared_ptr<Unit>> units_;  // live units by name
  std::map<pid_t, Unit*> main_pids_;                    // unreaped main processes
  std::set<std::shared_ptr<Sweep>> sweeps_;
  std::shared_ptr<UsageSampler> sampler_;
};

}  // namespace overseer::proc::internal
