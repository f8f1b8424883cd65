#include "proc/process_manager.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "proc/log_file.h"
#include "proc/proc_fs.h"

namespace overseer::proc {
namespace internal {
namespace {

namespace asio = boost::asio;
using Descriptor = asio::posix::stream_descriptor;

constexpr std::string_view kMarkerKey = "OVERSEER_UNIT=";
constexpr auto kLeftoverDeadline = std::chrono::seconds(30);
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

bool ValidUnitName(std::string_view name) {
  if (name.empty() || name.size() > 200 || name == "." || name == "..") return false;
  return Sanitize(name) == name;
}

std::string ErrnoText(int err) { return ErrnoMessage(err); }

bool IsLive(pid_t pid) {
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

ExitStatus FromSiginfo(const siginfo_t& info) {
  ExitStatus st;
  if (info.si_code == CLD_EXITED) {
    st.exit_code = info.si_status;
  } else {
    st.exit_code = -1;
    st.term_signal = info.si_status;
  }
  return st;
}

}  // namespace

class ManagerCore;

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
  // `undecided` when given.
  std::vector<pid_t> ListMembers(std::vector<pid_t>* undecided = nullptr);
  // Whether `pid` is a live process of the unit now (kUndecided: see ListMembers).
  Member Classify(pid_t pid);
  Status SignalAll(int sig);
  void Terminate(std::chrono::milliseconds grace, std::function<void()> done);
  Usage ReadUsage();
  // Manager gone: close everything; pending handlers see core_ == nullptr and stop.
  void Detach();

 private:
  void WaitMainExit();
  void OnMainReady();
  enum class Drained { kAgain, kMore, kClosed };
  void ReadOutput();
  void PumpOutput();
  Drained DrainOutput(int max_reads);
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
  std::string cgroup_root_;    // v2 mount, "" if none
  std::string cgroup_parent_;  // "" when cgroups are not used
  asio::signal_set sigchld_;
  std::map<std::string, std::shared_ptr<Unit>> units_;  // live units by name
  std::map<pid_t, Unit*> main_pids_;                    // unreaped main processes
  std::set<std::shared_ptr<Sweep>> sweeps_;
};

// ---------------------------------------------------------------------------------------------
// Unit

std::vector<pid_t> Unit::ListMembers(std::vector<pid_t>* undecided) {
  std::vector<pid_t> out;
  if (!proc_->cgroup_path_.empty()) {
    bool main_listed = false;
    for (pid_t pid : ReadCgroupProcs(proc_->cgroup_path_)) {
      // No liveness filter: cgroup.procs lists a process while any of its threads lives (its
      // leader may already be a zombie).
      out.push_back(pid);
      main_listed = main_listed || pid == proc_->pid_;
    }
    // Right after Spawn the shell may not have joined the cgroup yet.
    if (!main_listed && !proc_->exited() && IsLive(proc_->pid_)) out.push_back(proc_->pid_);
    return out;
  }
  bool group_seen = false;
  std::set<pid_t> live;
  for (pid_t pid : ListAllPids()) {
    auto st = ReadProcStat(pid);
    if (!st) continue;
    if (st->pgrp == proc_->pid_) group_seen = true;  // zombies too: they hold the id
    if (st->state == 'Z' || st->state == 'X') continue;
    live.insert(pid);
    if (use_group() && st->pgrp == proc_->pid_) {
      out.push_back(pid);
      continue;
    }
    Member m = ByMarker(*st);
    if (m == Member::kUndecided) m = Classify(pid);  // a short exec window may have passed
    if (m == Member::kYes) out.push_back(pid);
    if (m == Member::kUndecided && undecided != nullptr) undecided->push_back(pid);
  }
  if (proc_->exited() && !group_seen) group_released_ = true;
  std::erase_if(known_, [&](const auto& entry) { return live.count(entry.first) == 0; });
  return out;
}

Unit::Member Unit::ByMarker(const ProcStat& st) {
  const pid_t pid = st.pid;
  if (auto it = known_.find(pid); it != known_.end() && it->second == st.start_ticks) {
    return Member::kYes;  // decided before; an exec changes nothing
  }
  if (auto it = watched_.find(pid);
      it != watched_.end() && PidfdSendSignal(it->second->native_handle(), 0) == 0) {
    return Member::kYes;  // held by its pidfd: that process is alive, so it is this one
  }
  switch (EnvironMatch(pid, env_marker_, false)) {
    case EnvMatch::kYes:
      known_[pid] = st.start_ticks;
      return Member::kYes;
    case EnvMatch::kNo:
      return Member::kNo;
    case EnvMatch::kUnknown:
      break;
  }
  return given_up_.count(pid) != 0 ? Member::kNo : Member::kUndecided;
}

Unit::Member Unit::Classify(pid_t pid) {
  if (!proc_->cgroup_path_.empty()) {
    auto path = ReadCgroupV2Path(pid);
    return path && *path == cgroup_rel_ ? Member::kYes : Member::kNo;
  }
  auto st = ReadProcStat(pid);
  if (!st || st->state == 'Z' || st->state == 'X') return Member::kNo;
  if (use_group() && st->pgrp == proc_->pid_) return Member::kYes;
  return ByMarker(*st);
}

void Unit::Pin(pid_t pid, int fd) {
  OwnedFd owned(fd >= 0 ? fd : PidfdOpen(pid));
  if (owned.get() < 0) return;  // gone
  if (pending_.count(pid) != 0 || watched_.count(pid) != 0) return;
  pending_.emplace(pid, Pending{std::move(owned), 0});
  ScheduleRecheck();
}

void Unit::ScheduleRecheck() {
  if (recheck_scheduled_ || pending_.empty()) return;
  int checks = kMaxRechecks;
  for (const auto& [pid, pin] : pending_) checks = std::min(checks, pin.checks);
  recheck_scheduled_ = true;
  recheck_timer_.expires_after(kFirstRecheck * (1 << std::min(checks, kMaxRecheckShift)));
  recheck_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    self->recheck_scheduled_ = false;
    if (self->core_ == nullptr || self->finished_) return;
    self->Recheck();
  });
}

void Unit::Recheck() {
  std::map<pid_t, Pending> pins;
  pins.swap(pending_);
  for (auto& [pid, pin] : pins) {
    // Decided with the pidfd already open: if `pid` still names a member now, the pidfd is it.
    Member m = Classify(pid);
    if (m == Member::kUndecided && ++pin.checks < kMaxRechecks) {
      pending_.emplace(pid, std::move(pin));
      continue;
    }
    if (m == Member::kUndecided) {
      given_up_.insert(pid);
      spdlog::warn(
          "proc: unit {}: process {} has no readable environment after {} checks; "
          "treated as not part of the unit",
          proc_->unit_name_, pid, kMaxRechecks);
      continue;
    }
    if (m == Member::kYes) Adopt(pid, std::move(pin.fd));
  }
  ScheduleRecheck();
  Check();  // nothing unless the main process is reaped: then maybe finished
}

void Unit::Adopt(pid_t pid, OwnedFd fd) {
  if (phase_ == Phase::kTerm) {
    PidfdSendSignal(fd.get(), SIGTERM);
    PidfdSendSignal(fd.get(), SIGCONT);
  } else if (phase_ == Phase::kKill) {
    PidfdSendSignal(fd.get(), SIGKILL);
  } else if (stop_wanted_) {
    PidfdSendSignal(fd.get(), SIGSTOP);
  }
  if (proc_->exited() && watched_.count(pid) == 0) Watch(pid, fd.release());
}

Status Unit::SignalAll(int sig) {
  Status status;
  auto fail = [&](const std::string& what, int err) {
    if (err == ESRCH) return;
    spdlog::warn("proc: {} of unit {}: {}", what, proc_->unit_name_, ErrnoText(err));
    status = MakeError(ErrorCode::kInternal, "cannot signal unit " + proc_->unit_name_ + ": " +
                                                 what + ": " + ErrnoText(err));
  };
  if (sig == SIGSTOP) stop_wanted_ = true;
  if (sig == SIGCONT) stop_wanted_ = false;
  std::vector<pid_t> undecided;
  // First: it notices a released group id.
  std::vector<pid_t> members = ListMembers(&undecided);
  if (!proc_->exited() && pidfd_.is_open()) {
    if (PidfdSendSignal(pidfd_.native_handle(), sig) != 0) fail("signal main process", errno);
  }
  // After the main process is reaped its id may be reused: with a cgroup, members suffice.
  if (!proc_->exited() || (proc_->cgroup_path_.empty() && use_group())) {
    if (kill(-proc_->pid_, sig) != 0) fail("signal process group", errno);
  }
  std::set<pid_t> seen;
  auto signal_members = [&](const std::vector<pid_t>& list) {
    for (pid_t pid : list) {
      if (!seen.insert(pid).second) continue;
      if (pid == proc_->pid_ && !proc_->exited()) continue;
      if (auto it = watched_.find(pid); it != watched_.end()) {
        if (PidfdSendSignal(it->second->native_handle(), sig) != 0) fail("signal member", errno);
        continue;
      }
      OwnedFd fd(PidfdOpen(pid));
      if (fd.get() < 0) continue;
      switch (Classify(pid)) {
        case Member::kYes:
          if (PidfdSendSignal(fd.get(), sig) != 0) fail("signal member", errno);
          break;
        case Member::kNo:
          break;
        case Member::kUndecided:  // signalled once decided (Adopt), as the unit's state wants
          Pin(pid, fd.release());
          break;
      }
    }
  };
  signal_members(members);
  for (pid_t pid : undecided) Pin(pid, -1);
  if (sig == SIGSTOP && proc_->cgroup_path_.empty()) {
    // A member may have forked (and left the group) after the listing; the stopped ones cannot
    // fork any more, so one more look finds the rest.
    undecided.clear();
    signal_members(ListMembers(&undecided));
    for (pid_t pid : undecided) Pin(pid, -1);
  }
  return status;
}

void Unit::WaitMainExit() {
  pidfd_.async_wait(Descriptor::wait_read,
                    [self = shared_from_this()](const boost::system::error_code& ec) {
                      if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
                      self->OnMainReady();
                    });
}

void Unit::OnMainReady() {
  siginfo_t info{};
  int r;
  do {
    r = waitid(P_PIDFD, static_cast<id_t>(pidfd_.native_handle()), &info, WEXITED | WNOHANG);
  } while (r != 0 && errno == EINTR);
  ExitStatus st;
  if (r != 0) {
    // ECHILD: someone else reaped it (a stray wait in the program). The status is lost.
    spdlog::error("proc: cannot reap unit {} pid {}: {}", proc_->unit_name_, proc_->pid_,
                  ErrnoText(errno));
  } else if (info.si_pid == 0) {
    WaitMainExit();  // not exited yet (spurious wakeup)
    return;
  } else {
    st = FromSiginfo(info);
  }
  pidfd_.close();
  core_->OnMainReaped(proc_->pid_);
  // What the main process wrote before exiting is in the pipe: log it before on_exit.
  // (kMore means a live straggler keeps writing: the pending wait picks it up.)
  if (out_.is_open()) (void)DrainOutput(256);
  proc_->exit_status_ = st;
  spdlog::info("proc: unit {} pid {} exited (code {}, signal {})", proc_->unit_name_, proc_->pid_,
               st.exit_code, st.term_signal);
  auto self = shared_from_this();
  if (callbacks_.on_exit) callbacks_.on_exit(st);
  if (core_ != nullptr) Check();
}

void Unit::ReadOutput() {
  out_.async_wait(Descriptor::wait_read,
                  [self = shared_from_this()](const boost::system::error_code& ec) {
                    if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
                    self->PumpOutput();
                  });
}

void Unit::PumpOutput() {
  if (core_ == nullptr || !out_.is_open()) return;
  switch (DrainOutput(16)) {
    case Drained::kAgain:
      ReadOutput();
      break;
    case Drained::kMore:  // a fast writer: yield to other handlers, then go on
      asio::post(io_, [self = shared_from_this()] { self->PumpOutput(); });
      break;
    case Drained::kClosed:
      break;
  }
}

// All reads of the pipe happen here, in order: the read end is non-blocking.
Unit::Drained Unit::DrainOutput(int max_reads) {
  for (int i = 0; i < max_reads; ++i) {
    ssize_t n = read(out_.native_handle(), buf_.data(), buf_.size());
    if (n > 0) {
      if (log_) {
        Status s = log_->Write(std::string_view(buf_.data(), static_cast<size_t>(n)));
        if (!s.ok() && !log_error_reported_) {
          log_error_reported_ = true;
          spdlog::error("proc: unit {}: {}", proc_->unit_name_, s.error().message);
        }
      }
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Drained::kAgain;
    if (n < 0) spdlog::warn("proc: unit {} output: {}", proc_->unit_name_, ErrnoText(errno));
    boost::system::error_code ignored;
    out_.close(ignored);  // EOF: every writer is gone
    log_.reset();
    return Drained::kClosed;
  }
  return Drained::kMore;
}

void Unit::Watch(pid_t pid, int fd) {  // NOLINT(bugprone-easily-swappable-parameters)
  auto d = std::make_shared<Descriptor>(io_, fd);
  pending_.erase(pid);
  watched_[pid] = d;
  d->async_wait(Descriptor::wait_read, [self = shared_from_this(), pid,
                                        raw = d.get()](const boost::system::error_code& ec) {
    if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
    auto it = self->watched_.find(pid);
    if (it == self->watched_.end() || it->second.get() != raw) return;
    self->watched_.erase(it);
    if (self->watched_.empty()) self->Check();  // the last known member is gone: rescan
  });
}

// Drain: after the main process is reaped, wait (pidfds) for every remaining member; when
// none is left on a rescan, the unit is finished. No timers, no polling.
void Unit::Check() {
  if (core_ == nullptr || finished_ || !proc_->exited()) return;
  if (phase_ == Phase::kKill && !proc_->cgroup_path_.empty()) {
    WriteSmallFile(proc_->cgroup_path_ + "/cgroup.kill", "1");
  }
  std::vector<pid_t> undecided;
  for (pid_t pid : ListMembers(&undecided)) {
    if (watched_.count(pid) != 0) continue;
    int fd = PidfdOpen(pid);
    if (fd < 0) continue;
    Member m = Classify(pid);
    if (m == Member::kNo) {
      close(fd);
      continue;
    }
    if (m == Member::kUndecided) {
      Pin(pid, fd);
      continue;
    }
    if (phase_ == Phase::kTerm) {
      PidfdSendSignal(fd, SIGTERM);
      PidfdSendSignal(fd, SIGCONT);
    } else if (phase_ == Phase::kKill) {
      PidfdSendSignal(fd, SIGKILL);
    }
    Watch(pid, fd);
  }
  for (pid_t pid : undecided) Pin(pid, -1);
  // Not finished while a process that may be ours is undecided: Recheck comes back here.
  if (watched_.empty() && pending_.empty()) Finish();
}

void Unit::Terminate(std::chrono::milliseconds grace, std::function<void()> done) {
  if (done) done_waiters_.push_back(std::move(done));
  if (finished_) {
    Finish();
    return;
  }
  if (phase_ == Phase::kRunning) {
    phase_ = Phase::kTerm;
    spdlog::info("proc: terminating unit {} (grace {} ms)", proc_->unit_name_, grace.count());
    (void)SignalAll(SIGTERM);
    (void)SignalAll(SIGCONT);  // a stopped process keeps SIGTERM pending until continued
    for (auto& [pid, d] : watched_) {
      PidfdSendSignal(d->native_handle(), SIGTERM);
      PidfdSendSignal(d->native_handle(), SIGCONT);
    }
  }
  if (!grace_started_ && phase_ != Phase::kKill) {
    grace_started_ = true;
    grace_timer_.expires_after(grace);
    grace_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (self->core_ == nullptr || ec || self->finished_) return;
      self->EnterKillPhase();
    });
  }
  Check();
}

void Unit::EnterKillPhase() {
  phase_ = Phase::kKill;
  spdlog::info("proc: unit {} still running after grace: SIGKILL", proc_->unit_name_);
  if (!proc_->cgroup_path_.empty()) {
    if (!WriteSmallFile(proc_->cgroup_path_ + "/cgroup.kill", "1")) {
      spdlog::warn("proc: cgroup.kill of unit {}: {}", proc_->unit_name_, ErrnoText(errno));
    }
  }
  (void)SignalAll(SIGKILL);
  Check();
}

void Unit::Finish() {
  if (!finished_) {
    finished_ = true;
    proc_->finished_ = true;
    grace_timer_.cancel();
    recheck_timer_.cancel();
    pending_.clear();
    if (!proc_->cgroup_path_.empty() && rmdir(proc_->cgroup_path_.c_str()) != 0 &&
        errno != ENOENT) {
      spdlog::warn("proc: cannot remove cgroup {}: {}", proc_->cgroup_path_, ErrnoText(errno));
    }
    spdlog::debug("proc: unit {} finished", proc_->unit_name_);
  }
  auto waiters = std::move(done_waiters_);
  done_waiters_.clear();
  for (auto& w : waiters) asio::post(io_, std::move(w));
  if (core_ != nullptr)
    core_->OnUnitFinished(this);  // may drop the last owner but one: ok,
                                  // callers hold a shared_ptr to us
}

Usage Unit::ReadUsage() {
  Usage u;
  if (finished_) return u;
  uint64_t ticks = 0;
  std::vector<pid_t> undecided;
  std::vector<pid_t> members = ListMembers(&undecided);
  // Still no environment after a second read (execve in progress): counted when the unit
  // already holds it as a candidate (pinned) or its parent is a member.
  std::set<pid_t> member_set(members.begin(), members.end());
  for (pid_t pid : undecided) {
    auto st = ReadProcStat(pid);
    if (st && (pending_.count(pid) != 0 || member_set.count(st->ppid) != 0)) {
      members.push_back(pid);
    }
  }
  for (pid_t pid : members) {
    auto st = ReadProcStat(pid);
    if (!st) continue;
    ++u.processes;
    ticks += st->utime_ticks + st->stime_ticks + st->cutime_ticks + st->cstime_ticks;
    u.rss_bytes += st->rss_pages * PageSize();
  }
  u.cpu_seconds = static_cast<double>(ticks) / static_cast<double>(ClockTicksPerSecond());
  if (!proc_->cgroup_path_.empty()) {
    // cpu.stat counts exited processes too (and at microsecond precision).
    if (auto text = ReadSmallFile(proc_->cgroup_path_ + "/cpu.stat")) {
      std::string_view all(*text);
      constexpr std::string_view kKey = "usage_usec ";
      if (all.substr(0, kKey.size()) == kKey) {
        u.cpu_seconds = std::strtod(text->c_str() + kKey.size(), nullptr) / 1e6;
      }
    }
  }
  return u;
}

void Unit::Detach() {
  core_ = nullptr;
  boost::system::error_code ignored;
  pidfd_.close(ignored);
  out_.close(ignored);
  grace_timer_.cancel();
  recheck_timer_.cancel();
  pending_.clear();
  for (auto& [pid, d] : watched_) d->close(ignored);
  watched_.clear();
  log_.reset();
}

// ---------------------------------------------------------------------------------------------
// Sweep

bool Sweep::IsLeftover(pid_t pid) {
  for (const auto& marker : live_markers_) {
    if (EnvironHas(pid, marker, false)) return false;
  }
  if (!cgroup_rel_prefix_.empty()) {
    auto path = ReadCgroupV2Path(pid);
    if (path && path->compare(0, cgroup_rel_prefix_.size(), cgroup_rel_prefix_) == 0) return true;
  }
  return IsLive(pid) && EnvironHas(pid, env_prefix_, true);
}

void Sweep::Start() {
  deadline_.expires_after(kLeftoverDeadline);
  deadline_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (self->core_ == nullptr || ec || self->finished_) return;
    spdlog::error("proc: {} leftover process(es) still alive after {} s; giving up waiting",
                  self->watched_.size(), kLeftoverDeadline.count());
    self->Finish(true);
  });
  Round();
}

void Sweep::Round() {
  if (core_ == nullptr || finished_) return;
  std::set<pid_t> candidates;
  for (const auto& dir : dirs_) {
    for (pid_t pid : ReadCgroupProcs(dir)) candidates.insert(pid);
  }
  bool undecided = false;  // a process without a readable environment now (execve)
  for (pid_t pid : ListAllPids()) {
    if (candidates.count(pid) != 0 || !IsLive(pid)) continue;
    EnvMatch m = EnvironMatch(pid, env_prefix_, true);
    if (m == EnvMatch::kYes) candidates.insert(pid);
    undecided = undecided || m == EnvMatch::kUnknown;
  }
  for (pid_t pid : candidates) {
    if (auto it = watched_.find(pid); it != watched_.end()) {
      PidfdSendSignal(it->second->native_handle(), SIGKILL);
      continue;
    }
    int fd = PidfdOpen(pid);
    if (fd < 0) continue;
    if (!IsLeftover(pid)) {
      close(fd);
      continue;
    }
    PidfdSendSignal(fd, SIGKILL);
    if (killed_.insert(pid).second) {
      spdlog::warn("proc: killing leftover process {}", pid);
    }
    auto d = std::make_shared<Descriptor>(io_, fd);
    watched_[pid] = d;
    d->async_wait(Descriptor::wait_read, [self = shared_from_this(), pid,
                                          raw = d.get()](const boost::system::error_code& ec) {
      if (self->core_ == nullptr || ec == asio::error::operation_aborted) return;
      auto it2 = self->watched_.find(pid);
      if (it2 == self->watched_.end() || it2->second.get() != raw) return;
      self->watched_.erase(it2);
      // Our own children (same process as an earlier manager, e.g. in tests) become zombies.
      self->core_->ReapOrphans();
      if (self->watched_.empty()) self->Round();
    });
  }
  // Whatever forked since the listing: cgroup.kill reaches it (the next round waits for it).
  for (const auto& dir : dirs_) WriteSmallFile(dir + "/cgroup.kill", "1");
  bool look_again = undecided && ++undecided_rounds_ <= kMaxRechecks;
  if (watched_.empty() && !look_again) {
    // Dying (past the listing) but not yet out of the cgroup: look again soon.
    for (const auto& dir : dirs_) look_again = look_again || !ReadCgroupProcs(dir).empty();
  }
  if (look_again) {
    recheck_.expires_after(std::chrono::milliseconds(10));
    recheck_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->Round();
    });
    return;
  }
  if (watched_.empty()) Finish(false);
}

void Sweep::Finish(bool timed_out) {
  if (finished_) return;
  finished_ = true;
  deadline_.cancel();
  recheck_.cancel();
  if (!timed_out) {
    for (const auto& dir : dirs_) {
      if (rmdir(dir.c_str()) != 0 && errno != ENOENT) {
        spdlog::warn("proc: cannot remove leftover cgroup {}: {}", dir, ErrnoText(errno));
      }
    }
  }
  boost::system::error_code ignored;
  for (auto& [pid, d] : watched_) d->close(ignored);
  watched_.clear();
  int count = static_cast<int>(killed_.size());
  if (count > 0) spdlog::warn("proc: killed {} leftover process(es)", count);
  if (done_) asio::post(io_, [done = std::move(done_), count] { done(count); });
  if (core_ != nullptr) core_->OnSweepFinished(this);
}

void Sweep::Detach() {
  core_ = nullptr;
  deadline_.cancel();
  recheck_.cancel();
  boost::system::error_code ignored;
  for (auto& [pid, d] : watched_) d->close(ignored);
  watched_.clear();
}

// ---------------------------------------------------------------------------------------------
// ManagerCore

ManagerCore::ManagerCore(asio::io_context& io, const ProcessManagerOptions& options)
    : io_(io), instance_id_(Sanitize(options.instance_id)), sigchld_(io) {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    spdlog::warn("proc: PR_SET_CHILD_SUBREAPER: {}", ErrnoText(errno));
  }
  if (auto root = DetectCgroupV2Root()) cgroup_root_ = *root;
  if (options.use_cgroup && !cgroup_root_.empty()) {
    std::string parent = cgroup_root_ + "/overseer-" + instance_id_;
    if (mkdir(parent.c_str(), 0755) == 0 || errno == EEXIST) {
      cgroup_parent_ = parent;
    } else {
      spdlog::warn("proc: cannot create cgroup {}: {}; using process groups", parent,
                   ErrnoText(errno));
    }
  }
  spdlog::info("proc: instance {}, cgroup {}", instance_id_,
               cgroup_parent_.empty() ? std::string("off") : cgroup_parent_);
}

ManagerCore::~ManagerCore() {
  boost::system::error_code ignored;
  sigchld_.cancel(ignored);
  for (auto& [name, unit] : units_) unit->Detach();
  // Their exits are nobody's now: the next manager's orphan reaper takes them.
  for (auto& [pid, unit] : main_pids_) TrackedPids::Instance().Remove(pid);
  for (const auto& sweep : sweeps_) sweep->Detach();
  if (!cgroup_parent_.empty()) rmdir(cgroup_parent_.c_str());  // only if empty; fine if not
}

void ManagerCore::Start() {
  boost::system::error_code ec;
  sigchld_.add(SIGCHLD, ec);
  if (ec) {
    spdlog::error("proc: cannot watch SIGCHLD: {}", ec.message());
  } else {
    // Asio installs its handler without SA_RESTART; add it so that blocking calls on other
    // threads (SQLite, libpq) do not fail with EINTR on every child event.
    struct sigaction sa {};
    if (sigaction(SIGCHLD, nullptr, &sa) == 0) {
      sa.sa_flags |= SA_RESTART;
      sigaction(SIGCHLD, &sa, nullptr);
    }
    WaitSigchld();
  }
  ReapOrphans();  // zombies left while nobody listened (e.g. an earlier manager)
}

void ManagerCore::WaitSigchld() {
  sigchld_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec, int) {
    auto self = weak.lock();
    if (!self || ec) return;
    self->OnSigchld();
    self->WaitSigchld();
  });
}

void ManagerCore::OnSigchld() {
  // Stops and continues only: no WEXITED, so exits stay for the pidfd watchers.
  for (;;) {
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WSTOPPED | WCONTINUED | WNOHANG) != 0) break;
    if (info.si_pid == 0) break;
    auto it = main_pids_.find(info.si_pid);
    if (it == main_pids_.end()) continue;
    auto unit = it->second->shared_from_this();
    if (info.si_code == CLD_STOPPED) {
      spdlog::info("proc: unit {} stopped", unit->proc()->unit_name());
      if (unit->callbacks().on_stopped) unit->callbacks().on_stopped();
    } else if (info.si_code == CLD_CONTINUED) {
      spdlog::info("proc: unit {} continued", unit->proc()->unit_name());
      if (unit->callbacks().on_continued) unit->callbacks().on_continued();
    }
  }
  ReapOrphans();
}

void ManagerCore::ReapOrphans() {
  for (pid_t pid : ListOwnChildren()) {
    if (TrackedPids::Instance().Contains(pid)) continue;
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) spdlog::debug("proc: reaped orphan {}", pid);
  }
}

void ManagerCore::OnUnitFinished(Unit* unit) {
  auto it = units_.find(unit->proc()->unit_name());
  if (it != units_.end() && it->second.get() == unit) units_.erase(it);
}

void ManagerCore::OnSweepFinished(Sweep* sweep) {
  for (auto it = sweeps_.begin(); it != sweeps_.end(); ++it) {
    if (it->get() == sweep) {
      sweeps_.erase(it);
      return;
    }
  }
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
  auto log = LogFile::Open(spec.log_path, spec.log_max_bytes);
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

  // /bin/sh joins the cgroup before exec, so the agent cannot fork outside it; `exec "$@"`
  // gives execvp semantics and "command not found" as exit 127 with a message in the log.
  std::vector<std::string> args = {"/bin/sh", "-c"};
  if (!cgroup_dir.empty()) {
    args.emplace_back("echo $$ > \"$1\" || exit 125; shift; exec \"$@\"");
    args.emplace_back("overseer");
    args.push_back(cgroup_dir + "/cgroup.procs");
  } else {
    args.emplace_back("exec \"$@\"");
    args.emplace_back("overseer");
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
  int err = posix_spawn(&pid, "/bin/sh", &fa, &attr, argv_c.data(), envp_c.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(pipe_fds[1]);
  if (err != 0) {
    close(pipe_fds[0]);
    drop_cgroup();
    std::string where = spec.cwd.empty() ? "" : " in " + spec.cwd;
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

void ManagerCore::KillLeftovers(std::function<void(int)> done) {
  std::vector<std::string> dirs;
  std::string rel_prefix;
  if (!cgroup_root_.empty()) {
    std::string parent = cgroup_root_ + "/overseer-" + instance_id_;
    rel_prefix = parent.substr(cgroup_root_.size()) + "/";
    if (DIR* d = opendir(parent.c_str())) {
      while (dirent* e = readdir(d)) {  // NOLINT(concurrency-mt-unsafe): DIR not shared
        if (e->d_type != DT_DIR || std::string_view(e->d_name) == "." ||
            std::string_view(e->d_name) == "..") {
          continue;
        }
        if (units_.count(e->d_name) != 0) continue;  // ours, alive
        dirs.push_back(parent + "/" + e->d_name);
      }
      closedir(d);
    }
  }
  std::vector<std::string> live_markers;
  for (const auto& [name, unit] : units_) {
    live_markers.push_back(std::string(kMarkerKey) + instance_id_ + "/" + name);
  }
  auto sweep = std::make_shared<Sweep>(this, io_, std::move(dirs), std::move(rel_prefix),
                                       std::string(kMarkerKey) + instance_id_ + "/",
                                       std::move(live_markers), std::move(done));
  sweeps_.insert(sweep);
  sweep->Start();
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// ProcessManager

ProcessManager::ProcessManager(boost::asio::io_context& io, const ProcessManagerOptions& options)
    : core_(std::make_shared<internal::ManagerCore>(io, options)) {
  core_->Start();
}

ProcessManager::~ProcessManager() = default;

Result<std::shared_ptr<Process>> ProcessManager::Spawn(const SpawnSpec& spec,
                                                       ProcessCallbacks callbacks) {
  return core_->Spawn(spec, std::move(callbacks));
}

Status ProcessManager::Pause(Process& p) {
  auto unit = p.unit_.lock();
  if (!unit || p.exited()) {
    return MakeError(ErrorCode::kInvalidStateTransition, "process has exited");
  }
  return unit->SignalAll(SIGSTOP);
}

Status ProcessManager::Resume(Process& p) {
  auto unit = p.unit_.lock();
  if (!unit || p.exited()) {
    return MakeError(ErrorCode::kInvalidStateTransition, "process has exited");
  }
  return unit->SignalAll(SIGCONT);
}

void ProcessManager::Terminate(const std::shared_ptr<Process>& p, std::chrono::milliseconds grace,
                               std::function<void()> done) {
  std::shared_ptr<internal::Unit> unit = p ? p->unit_.lock() : nullptr;
  if (!unit) {
    if (done) boost::asio::post(core_->io(), std::move(done));
    return;
  }
  unit->Terminate(grace, std::move(done));
}

Usage ProcessManager::ReadUsage(const Process& p) {
  auto unit = p.unit_.lock();
  return unit ? unit->ReadUsage() : Usage{};
}

bool ProcessManager::cgroups_enabled() const { return core_->cgroups_enabled(); }

const std::string& ProcessManager::cgroup_parent() const { return core_->cgroup_parent(); }

void ProcessManager::KillLeftovers(std::function<void(int)> done) {
  core_->KillLeftovers(std::move(done));
}

Result<std::string> ProcessManager::TailLog(const std::string& log_path, int lines,
                                            int64_t max_bytes) {
  return TailLogFiles(log_path, lines, max_bytes);
}

}  // namespace overseer::proc
