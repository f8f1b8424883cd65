// ProcessManager: the façade over ManagerCore, and the core's own part: cgroup parent, SIGCHLD
// (stops, continues, orphan reaping) and the registries of live units and sweeps. Spawning is in
// spawn.cc, the leftover sweep in sweep.cc, the units in unit.cc. Loop thread only (TailLog: any).
#include "proc/process_manager.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <utility>

#include "proc/log_file.h"
#include "proc/proc_fs.h"
#include "proc/unit.h"
#include "proc/usage_sampler.h"

namespace overseer::proc {
namespace internal {

ManagerCore::ManagerCore(asio::io_context& io, const ProcessManagerOptions& options)
    : io_(io),
      instance_id_(Sanitize(options.instance_id)),
      sigchld_(io),
      sampler_(std::make_shared<UsageSampler>(io, options.usage_period, options.usage_interest)) {
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
  if (!options.exec_helper.empty()) {
    if (access(options.exec_helper.c_str(), X_OK) == 0) {
      exec_helper_ = options.exec_helper;
    } else {
      spdlog::warn("proc: {} is not executable ({}); starting workers through /bin/sh",
                   options.exec_helper, ErrnoText(errno));
    }
  }
  spdlog::info("proc: instance {}, cgroup {}, workers start through {}", instance_id_,
               cgroup_parent_.empty() ? std::string("off") : cgroup_parent_,
               exec_helper_.empty() ? std::string("/bin/sh") : exec_helper_);
}

ManagerCore::~ManagerCore() {
  boost::system::error_code ignored;
  sigchld_.cancel(ignored);
  sampler_->Stop();
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

MainState ProcessManager::State(const Process& p) const {
  if (p.exited()) return MainState::kExited;
  std::optional<internal::ProcStat> st = internal::ReadProcStat(p.pid());
  if (!st || st->state == 'Z' || st->state == 'X') return MainState::kExited;
  return st->state == 'T' ? MainState::kStopped : MainState::kRunning;
}

Usage ProcessManager::ReadUsage(const Process& p) {
  auto unit = p.unit_.lock();
  return unit ? unit->ReadUsage() : Usage{};
}

std::optional<Usage> ProcessManager::CachedUsage(const Process& p) {
  auto unit = p.unit_.lock();
  if (!unit) return Usage{};
  return core_->sampler().Cached(unit);
}

void ProcessManager::AwaitUsage(const Process& p, std::function<void(Usage)> done) {
  auto unit = p.unit_.lock();
  if (!unit) {
    boost::asio::post(core_->io(), [done = std::move(done)] { done(Usage{}); });
    return;
  }
  core_->sampler().Await(unit, std::move(done));
}

bool ProcessManager::UsageSamplerIdleForTest() const { return core_->sampler().idle(); }

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
