// Unit: which processes belong to a unit (cgroup, process group, env marker; undecided ones
// rechecked), signalling them, reaping the main process and the drain that waits until none is
// left. Output capture is in unit_output.cc. Loop thread only.
#include "proc/unit.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <set>
#include <utility>

#include "common/time.h"
#include "proc/proc_fs.h"

namespace overseer::proc::internal {
namespace {

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

std::vector<pid_t> Unit::ListMembers(std::vector<pid_t>* undecided, const HostStats* host) {
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
  HostStats scanned;
  if (host == nullptr) {
    for (pid_t pid : ListAllPids()) {
      if (auto st = ReadProcStat(pid)) scanned.push_back(*st);
    }
    host = &scanned;
  }
  bool group_seen = false;
  std::set<pid_t> live;
  for (const ProcStat& st : *host) {
    const pid_t pid = st.pid;
    if (st.pgrp == proc_->pid_) group_seen = true;  // zombies too: they hold the id
    if (st.state == 'Z' || st.state == 'X') continue;
    live.insert(pid);
    if (use_group() && st.pgrp == proc_->pid_) {
      out.push_back(pid);
      continue;
    }
    Member m = ByMarker(st);
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

Usage Unit::ReadUsage(const HostStats* host) {
  Usage u;
  if (finished_) return u;
  if (!proc_->cgroup_path_.empty()) host = nullptr;
  u.sampled_at = SystemClock::Instance().NowMs();
  uint64_t ticks = 0;
  std::vector<pid_t> undecided;
  std::vector<pid_t> members = ListMembers(&undecided, host);
  // Still no environment after a second read (execve in progress): counted when the unit
  // already holds it as a candidate (pinned) or its parent is a member.
  std::set<pid_t> member_set(members.begin(), members.end());
  for (pid_t pid : undecided) {
    auto st = ReadProcStat(pid);
    if (st && (pending_.count(pid) != 0 || member_set.count(st->ppid) != 0)) {
      members.push_back(pid);
    }
  }
  // From the snapshot when there is one (a member found after it, mid-exec, is read now).
  std::map<pid_t, const ProcStat*> snapshot;
  if (host != nullptr) {
    for (const ProcStat& st : *host) snapshot.emplace(st.pid, &st);
  }
  for (pid_t pid : members) {
    auto it = snapshot.find(pid);
    std::optional<ProcStat> st =
        it != snapshot.end() ? std::optional<ProcStat>(*it->second) : ReadProcStat(pid);
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

}  // namespace overseer::proc::internal
